"""Names that come from a remote (an index, an archive) and must stay inside the folder
they are written to: refused unless they are plain relative POSIX paths."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from madatasets.errors import MadataError

# The characters our own writer uses (zarr chunk keys, card files); anything else is refused
# rather than interpreted (a backslash is a separator on Windows, a colon a drive).
_ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/")
MAX_PATH = 400


def safe_relative(name: object, what: str) -> PurePosixPath:
    """`name` as a relative path that cannot leave its folder, or MadataError naming it."""
    if not isinstance(name, str) or not name or len(name) > MAX_PATH:
        raise MadataError(f"{what}: file name {str(name)[:80]!r} is not a relative path of 1 to {MAX_PATH} characters")
    if name.startswith("/") or not set(name) <= _ALLOWED:
        raise MadataError(f"{what}: file name {name[:80]!r} is absolute or has characters outside "
                          f"[A-Za-z0-9._-/]; refused (it could escape the store)")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise MadataError(f"{what}: file name {name[:80]!r} has an empty, '.' or '..' component; "
                          f"refused (it could escape the store)")
    return PurePosixPath(name)


def inside(root: Path, relative: PurePosixPath) -> Path:
    """The path of `relative` under `root`, refusing any existing component that is a symlink
    (a symlink planted in a folder we write to could point anywhere)."""
    path = root
    for part in relative.parts:
        path = path / part
        if os.path.islink(path):
            raise MadataError(f"{path} is a symbolic link; refused (it could escape {root})")
    return path
