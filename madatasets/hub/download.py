"""`madata download ID[@sha256-prefix]`: fetch a published dataset into the local store.

Every file goes to `<store>/.downloads/<card sha256>/<path>.part` first and is
resumed there after an interruption; only once its size and sha256 match the index
is it renamed to its final name. When every file is there, they move into a fresh
version directory, the whole version is read back verified (card digest against the
index entry, integrity record, every chunk), fsynced, and the id's pointer switches
to it: the store's own atomic publication. Until that switch nothing is visible, and
a failure at any point leaves the store as it was.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

from madatasets.errors import MadataError
from madatasets.hub.index import split_revision
from madatasets.hub.lookup import find
from madatasets.hub.paths import inside, safe_relative
from madatasets.hub.requirements import check_requirements
from madatasets.hub.transfer import FileSink, transfer
from madatasets.hub.verify import read_group
from madatasets.integrity import card_digest
from madatasets.layout import fsync_tree
from madatasets.shard_layout import DiskFiles
from madatasets.store import Store, parse_id

DOWNLOADS = ".downloads"


@dataclass(frozen=True)
class Downloaded:
    dataset_id: str
    card_sha256: str
    remote: str
    files: int
    bytes: int
    installed: bool         # False: the same revision was already in the store (no-op)
    path: Path


def download(spec: str, store: str | os.PathLike | Store | None = None, remotes: Sequence[str] = (),
             overwrite: bool = False, progress: bool = True) -> Downloaded:
    """Fetch `spec` ('ID' or 'ID@<card sha256 prefix>') from the first remote that lists it."""
    dataset_id, prefix = split_revision(spec)
    parsed = parse_id(dataset_id)
    remote, entry = find(dataset_id, prefix, remotes)
    check_requirements(entry)
    store = store if isinstance(store, Store) else Store(store, create=True)
    if not store.exists:
        store = Store(store.root, create=True)
    digest = entry["card_sha256"]
    result = dict(dataset_id=dataset_id, card_sha256=digest, remote=remote.url, files=len(entry["files"]),
                  bytes=entry["total_bytes"], path=store.path(parsed))
    with store.lock(parsed, wait=False):
        store.layout.recover(parsed.relative_path)
        store.layout.collect_garbage(parsed.relative_path)
        if store.has(parsed):
            present = store.card(dataset_id)
            if card_digest(present) == digest:
                return Downloaded(**result, installed=False)
            if not overwrite:
                raise MadataError(f"{dataset_id} is in {store.root} with another card "
                                  f"(sha256 {card_digest(present)[:12]}, the remote has {digest[:12]}); "
                                  f"pass --overwrite to replace it")
        staging = store.root / DOWNLOADS / digest
        names = [str(safe_relative(f["path"], f"{remote.url} entry {dataset_id}")) for f in entry["files"]]
        _fetch_all(remote, entry, staging, names, progress)
        _install(store, parsed, entry, staging, names)
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(store.root / DOWNLOADS)
    return Downloaded(**result, installed=True)


def _fetch_all(remote, entry, staging: Path, names: list[str], progress: bool) -> None:
    from tqdm import tqdm
    staging.mkdir(parents=True, exist_ok=True)
    done = {name for name, f in zip(names, entry["files"])
            if _complete(inside(staging, PurePosixPath(name)), f["size"])}
    remaining = sum(f["size"] for name, f in zip(names, entry["files"]) if name not in done)
    with tqdm(total=remaining, unit="B", unit_scale=True, desc=entry["id"],
              disable=None if progress else True,       # None: only on a terminal
              leave=False) as bar:
        for name, listed in zip(names, entry["files"]):
            final = inside(staging, PurePosixPath(name))
            if name in done:
                continue
            final.parent.mkdir(parents=True, exist_ok=True)
            part = inside(staging, PurePosixPath(name + ".part"))
            transfer(remote, f"{entry['path']}/{name}", listed["size"], listed["sha256"], FileSink(part),
                     progress=bar.update)
            os.replace(part, final)


def _complete(path: Path, size: int) -> bool:
    # A final name exists only after its sha256 matched (renamed from .part); the size guards
    # against a file changed under us.
    return path.is_file() and not path.is_symlink() and path.stat().st_size == size


def _install(store: Store, parsed, entry, staging: Path, names: list[str]) -> None:
    version = store.layout.new_version(parsed.relative_path)
    try:
        for name in names:
            target = version / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(inside(staging, PurePosixPath(name)), target)
        # Read back as any load would, against the card the index listed, before it is visible.
        read_group(parsed, names, DiskFiles(), root=PurePosixPath(version),
                   expected_card_sha256=entry["card_sha256"])
        fsync_tree(version)
        store.layout.publish(parsed.relative_path, version)
    except BaseException:
        if store.layout.resolve(parsed.relative_path) != version.resolve():
            shutil.rmtree(version, ignore_errors=True)
        raise


def _remove_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass
