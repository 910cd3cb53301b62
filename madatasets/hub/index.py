"""The remote index (`index.json`): one entry per published dataset revision.

Format (docs/hub.md, JSON Schema in `index.schema.json`)::

    {"format": "madata-index", "format_version": 1, "updated": "...",
     "datasets": [{"id", "card_sha256", "card", "path", "total_bytes",
                   "files": [{"path", "size", "sha256"}], "requires", "published"}]}

Every index is validated on read: the schema, then what a schema cannot say (file
names that stay inside the entry, sizes that add up, a card whose digest is the
entry's, one entry per id and card digest). An index that fails is refused whole,
with one line naming the first problem.
"""

from __future__ import annotations

import datetime as _dt
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from madatasets.errors import MadataError
from madatasets.hub.paths import safe_relative
from madatasets.integrity import card_digest

INDEX_NAME = "index.json"
FORMAT = "madata-index"
FORMAT_VERSION = 1


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The shipped JSON Schema of index.json."""
    return json.loads(resources.files("madatasets.hub").joinpath("index.schema.json").read_text())


def empty_index() -> dict[str, Any]:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "datasets": []}


def parse_index(raw: bytes, where: str) -> dict[str, Any]:
    """Decode and validate an index; MadataError naming `where` and the first problem."""
    import jsonschema
    try:
        index = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MadataError(f"{where}: index.json is not valid JSON ({error}); the remote is damaged") from None
    validator = jsonschema.Draft202012Validator(schema())
    problem = next(iter(sorted(validator.iter_errors(index), key=lambda e: list(e.absolute_path))), None)
    if problem is not None:
        location = "/".join(str(p) for p in problem.absolute_path) or "(top level)"
        if problem.validator == "pattern" and location.endswith("path"):
            # The schema's path rule is a regex nobody wants to read: say what it means.
            message = (f"{str(problem.instance)[:80]!r} is not a relative path inside the dataset's folder "
                       f"(absolute, '..', '.' or empty parts, or characters outside [A-Za-z0-9._-/]); refused")
        else:
            message = problem.message[:200]
        raise MadataError(f"{where}: index.json does not follow the madata index schema at {location}: {message}")
    seen: set[tuple[str, str]] = set()
    for entry in index["datasets"]:
        check_entry(entry, where)
        key = (entry["id"], entry["card_sha256"])
        if key in seen:
            raise MadataError(f"{where}: index.json lists {entry['id']}@{entry['card_sha256'][:12]} twice")
        seen.add(key)
    return index


def check_entry(entry: dict[str, Any], where: str) -> None:
    """What the schema cannot check: the card and the entry agree, names stay inside."""
    what = f"{where}: entry {entry['id']}"
    from madatasets.store import parse_id
    parse_id(entry["id"])
    if entry["card"].get("id") != entry["id"]:
        raise MadataError(f"{what}: its card is the card of {entry['card'].get('id')!r}; the index is inconsistent")
    if card_digest(entry["card"]) != entry["card_sha256"]:
        raise MadataError(f"{what}: its card does not match its card_sha256; the index is inconsistent")
    safe_relative(entry["path"], what)
    names = [str(safe_relative(f["path"], what)) for f in entry["files"]]
    if len(set(names)) != len(names):
        raise MadataError(f"{what}: a file is listed twice")
    if "data.zarr/zarr.json" not in names:
        raise MadataError(f"{what}: its files do not include data.zarr/zarr.json; the index is inconsistent")
    for name in names:
        # A file that is also a folder of another (a/b and a/b/c) cannot be laid out.
        if any(other.startswith(name + "/") for other in names):
            raise MadataError(f"{what}: {name!r} is both a file and a folder")
    total = sum(f["size"] for f in entry["files"])
    if total != entry["total_bytes"]:
        raise MadataError(f"{what}: total_bytes {entry['total_bytes']} is not the sum of its file sizes ({total})")


def dump_index(index: dict[str, Any]) -> bytes:
    """Canonical bytes of an index (sorted entries, so that a merge is deterministic)."""
    index = dict(index, updated=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    index["datasets"] = sorted(index["datasets"], key=lambda e: (e["id"], e["published"], e["card_sha256"]))
    return (json.dumps(index, indent=1, sort_keys=True) + "\n").encode()


def merge_entry(index: dict[str, Any], entry: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The index with `entry` added; (index, False) when an entry with the same id and card
    digest is already there (publishing is idempotent)."""
    for existing in index["datasets"]:
        if existing["id"] == entry["id"] and existing["card_sha256"] == entry["card_sha256"]:
            return index, False
    return dict(index, datasets=list(index["datasets"]) + [entry]), True


def select(index: dict[str, Any], dataset_id: str, prefix: str | None = None) -> dict[str, Any] | None:
    """The entry of `dataset_id` (the last published, or the one whose card digest starts with
    `prefix`); None when the index has none. An ambiguous prefix is an error."""
    entries = [e for e in index["datasets"] if e["id"] == dataset_id]
    if prefix is not None:
        entries = [e for e in entries if e["card_sha256"].startswith(prefix)]
        if len(entries) > 1:
            raise MadataError(f"{dataset_id}@{prefix} matches {len(entries)} revisions "
                              f"({', '.join(e['card_sha256'][:12] for e in entries)}); give more digits")
    return max(entries, key=lambda e: e["published"]) if entries else None


def split_revision(spec: str) -> tuple[str, str | None]:
    """'ID' or 'ID@<sha256 prefix>' -> (id, prefix or None)."""
    dataset_id, at, prefix = spec.partition("@")
    if not at:
        return dataset_id, None
    if not 4 <= len(prefix) <= 64 or any(c not in "0123456789abcdef" for c in prefix):
        raise MadataError(f"revision {prefix[:70]!r} in {spec[:100]!r} is not a sha256 prefix; "
                          f"expected 4 to 64 lowercase hex digits of the card digest (madata list --remote)")
    return dataset_id, prefix
