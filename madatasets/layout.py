"""Immutable dataset directories behind one atomic pointer per id.

    <root>/<scenario>/<quality>-v<N>           the pointer: a relative symlink
        -> .versions/<quality>-v<N>/<uuid>     one immutable directory per write:
               data.zarr/                      the Zarr v3 group (card in its attributes)
               DATASET_CARD.md                 the card, for people (outside the group)

A writer fills a fresh `<uuid>` directory, fsyncs it, and switches the pointer with
one `rename` of a new symlink over the old one, so a reader that resolves the
pointer once sees the old dataset or the new one, never a mix, and a crash at any
instant leaves one of them visible. Stores written before this layout keep a real
directory at the pointer's path (the group itself); `publish` replaces it by the
symlink in one atomic exchange (`renameat2(RENAME_EXCHANGE)`), which moves the old
directory into `.versions/` where it becomes garbage like any superseded version.

Readers hold a shared `flock` on the directory they read; garbage collection
deletes a directory only under an exclusive one, so it never removes what a
reader is reading.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

GROUP = "data.zarr"
CARD_MARKDOWN = "DATASET_CARD.md"
VERSIONS = ".versions"
LINK_SUFFIX = ".link"
# A writer fallen back to two renames first parks the old directory under this prefix;
# while the pointer is missing such a directory is the dataset and is restored, never deleted.
LEGACY_PREFIX = "legacy-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (directories: so that the names in them are durable)."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under `root`, children before parents."""
    for directory, _, files in os.walk(root, topdown=False):
        for name in files:
            fsync_path(Path(directory) / name)
        fsync_path(Path(directory))


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap the names `a` and `b`; False where the kernel or filesystem cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(a))


class Layout:
    """Paths, publication and garbage collection of the datasets under one store root."""

    def __init__(self, root: Path):
        self.root = root

    def pointer(self, relative: Path) -> Path:
        return self.root / relative

    def versions(self, relative: Path) -> Path:
        return self.root / relative.parent / VERSIONS / relative.name

    def resolve(self, relative: Path) -> Path | None:
        """The directory the pointer names now (resolved once), or None when there is none."""
        pointer = self.pointer(relative)
        if not os.path.lexists(pointer):
            return None
        target = Path(os.path.realpath(pointer))
        return target if target.is_dir() else None

    @staticmethod
    def group_path(directory: Path) -> Path:
        """The Zarr group inside a dataset directory (a legacy directory is the group itself)."""
        return directory if (directory / "zarr.json").exists() else directory / GROUP

    def new_version(self, relative: Path) -> Path:
        versions = self.versions(relative)
        versions.mkdir(parents=True, exist_ok=True)
        directory = versions / uuid.uuid4().hex
        directory.mkdir()
        return directory

    def publish(self, relative: Path, directory: Path) -> None:
        """Make `directory` (a complete, fsynced version of `relative`) the visible dataset."""
        pointer = self.pointer(relative)
        link = self.versions(relative) / (directory.name + LINK_SUFFIX)
        # The target is relative to the pointer's directory, so the store can be moved as a whole.
        os.symlink(os.path.relpath(directory, pointer.parent), link)
        if os.path.isdir(pointer) and not os.path.islink(pointer):
            # A legacy dataset directory: a symlink cannot be renamed over a directory.
            if not exchange(link, pointer):
                os.rename(pointer, self.versions(relative) / (LEGACY_PREFIX + uuid.uuid4().hex))
                os.replace(link, pointer)
            # After the exchange `link` names the old directory: garbage from now on.
        else:
            os.replace(link, pointer)
        fsync_path(pointer.parent)

    def recover(self, relative: Path) -> None:
        """Restore the pointer of a writer that died between the two renames of the fallback."""
        pointer = self.pointer(relative)
        if os.path.lexists(pointer):
            return
        parked = sorted(self.versions(relative).glob(LEGACY_PREFIX + "*")) if self.versions(relative).is_dir() else []
        if parked:
            os.rename(parked[0], pointer)

    def garbage(self, relative: Path) -> list[Path]:
        """Everything under the id's versions directory except what the pointer names."""
        versions = self.versions(relative)
        if not versions.is_dir():
            return []
        current = self.resolve(relative)
        pointer_missing = not os.path.lexists(self.pointer(relative))
        return sorted(entry for entry in versions.iterdir()
                      if (current is None or entry.resolve() != current or entry.is_symlink())
                      and not (pointer_missing and entry.name.startswith(LEGACY_PREFIX)))

    def collect_garbage(self, relative: Path) -> list[Path]:
        """Delete the id's superseded and orphaned directories that no reader holds.

        Call with the id's writer lock held: a directory being written is garbage by
        this definition too.
        """
        removed = []
        for entry in self.garbage(relative):
            if entry.is_symlink() or not entry.is_dir():
                entry.unlink(missing_ok=True)
                removed.append(entry)
                continue
            with exclusive(entry) as acquired:
                if acquired:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry)
        versions = self.versions(relative)
        with contextlib.suppress(OSError):
            versions.rmdir()            # only when empty
        return removed


@contextlib.contextmanager
def exclusive(directory: Path) -> Iterator[bool]:
    """Try to hold an exclusive lock on a directory; yields whether it was acquired."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


@contextlib.contextmanager
def shared(directory: Path) -> Iterator[int | None]:
    """Hold a shared lock on a directory while reading it; yields its open descriptor, or
    None when it was deleted meanwhile (resolve the pointer again)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        yield None
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        # Garbage collection may have removed it between our resolve and our lock.
        try:
            still_there = os.stat(directory).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            still_there = False
        yield fd if still_there else None
    finally:
        os.close(fd)
