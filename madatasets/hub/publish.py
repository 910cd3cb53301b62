"""`madata publish ID --to URL`: upload a dataset's version directory and add its entry to
the remote's index.json.

The files go first, under `<id>/<card sha256[:16]>/` (a path no other revision uses,
so an upload never replaces what a reader may be fetching), then the entry is merged
into the index under the remote's guard (madatasets/hub/remote.py): an entry never
names a file that is not there, and two publishers never lose each other's entries.
Publishing the same revision again uploads nothing and leaves the index as it is.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from madatasets.errors import MadataError
from madatasets.hub.index import empty_index, merge_entry
from madatasets.hub.remotes import open_remote
from madatasets.hub.retry import with_retries
from madatasets.integrity import card_digest
from madatasets.layout import GROUP
from madatasets.store import Store


@dataclass
class Published:
    dataset_id: str
    card_sha256: str
    remote: str
    entry: dict[str, Any]
    uploads: list[str] = field(default_factory=list)     # files that were (or would be) uploaded
    index_changed: bool = False
    dry_run: bool = False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def version_files(directory: Path) -> list[dict[str, Any]]:
    """Every file of a version directory with its size and sha256, in path order."""
    listed = []
    for path in sorted(directory.rglob("*")):
        if path.is_symlink():
            raise MadataError(f"{path} is a symbolic link; a published dataset holds regular files only")
        if path.is_file():
            listed.append({"path": path.relative_to(directory).as_posix(), "size": path.stat().st_size,
                           "sha256": _sha256(path)})
    return listed


def build_entry(card: dict[str, Any], files: list[dict[str, Any]]) -> dict[str, Any]:
    digest = card_digest(card)
    return {"id": card["id"], "card_sha256": digest, "card": card, "path": f"{card['id']}/{digest[:16]}",
            "total_bytes": sum(f["size"] for f in files), "files": files,
            "requires": {"madata": str(card.get("madata_version", "0")), "scenario": card["scenario"],
                         "scenario_version": int(card["scenario_version"])},
            "published": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")}


def publish(dataset_id: str, to: str, store: str | os.PathLike | Store | None = None,
            dry_run: bool = False) -> Published:
    """Publish the current version of `dataset_id` to the remote `to`."""
    store = store if isinstance(store, Store) else Store(store)
    if not store.exists:
        raise MadataError(f"no madata store at {store.root}; pass --store")
    # Verified first: a damaged dataset is never published.
    verified_card, _ = store.read_arrays(dataset_id)
    parsed = store.require(dataset_id)
    remote = open_remote(to)
    remote.require_writable()
    with store.snapshot(parsed) as group_path:
        if group_path.name != GROUP:
            raise MadataError(f"{dataset_id} is in store layout 1 (written before 2026-12); publishing needs "
                              f"layout 2: collect it again with --overwrite")
        directory = group_path.parent
        files = version_files(directory)
        entry = build_entry(verified_card, files)
        attributes = json.loads((group_path / "zarr.json").read_text())["attributes"]
        if card_digest(attributes["card"]) != entry["card_sha256"]:
            raise MadataError(f"{dataset_id} was overwritten while it was being published; publish again")
        report = Published(dataset_id, entry["card_sha256"], remote.url, entry, dry_run=dry_run)
        listed = remote.index() if remote.has_root() else empty_index()
        already = any(e["id"] == dataset_id and e["card_sha256"] == entry["card_sha256"] for e in listed["datasets"])
        for listed_file in files:
            name = f"{entry['path']}/{listed_file['path']}"
            present = with_retries(lambda: remote.size(name), f"checking {remote.describe(name)}")
            if present != listed_file["size"]:
                report.uploads.append(listed_file["path"])
                if not dry_run:
                    local = directory / listed_file["path"]
                    with_retries(lambda: remote.put_file(name, local), f"uploading {remote.describe(name)}")
    if dry_run:
        report.index_changed = not already
        return report

    def add(index: dict[str, Any]) -> dict[str, Any] | None:
        merged, changed = merge_entry(index, entry)
        report.index_changed = changed
        return merged if changed else None

    remote.update_index(add)
    return report
