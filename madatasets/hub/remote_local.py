"""A remote that is a folder on this machine (or a file:// URL), writable.

`index.json` changes under an exclusive lock file `index.json.lock` created with
O_EXCL (which works on network file systems too), the new index written to a
temporary name and renamed over the old one; a lock left by a dead process on this
host is broken, any other is waited for.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

from madatasets.errors import MadataError
from madatasets.hub.index import INDEX_NAME, dump_index, empty_index, parse_index
from madatasets.hub.paths import inside, safe_relative
from madatasets.hub.remote import BLOCK, Remote

LOCK_WAIT_S = 60.0


class LocalRemote(Remote):
    writable = True

    def __init__(self, root: Path, url: str):
        self.root, self.url = root, url

    def has_root(self) -> bool:
        return self.root.is_dir()

    def _path(self, name: str) -> Path:
        path = inside(self.root, safe_relative(name, self.url))
        real = os.path.realpath(path)
        if os.path.exists(path) and not real.startswith(os.path.realpath(self.root) + os.sep):
            raise MadataError(f"{path} resolves outside the remote {self.root}; refused")
        return path

    def read(self, name: str) -> bytes | None:
        path = self._path(name)
        if not path.exists() and self.root.is_dir():
            return None
        if not self.root.is_dir():
            raise MadataError(f"remote {self.url}: folder {self.root} does not exist")
        return path.read_bytes()

    def size(self, name: str) -> int | None:
        path = self._path(name)
        return path.stat().st_size if path.is_file() else None

    def stream(self, name: str, offset: int) -> Iterator[bytes]:
        path = self._path(name)
        if not path.is_file():
            raise MadataError(f"{self.describe(name)} does not exist (the remote is missing a file its index lists)")
        with open(path, "rb") as handle:
            handle.seek(offset)
            while block := handle.read(BLOCK):
                yield block

    def put_file(self, name: str, local: Path) -> None:
        target = self._path(name)
        if target.is_file() and target.stat().st_size == local.stat().st_size:
            return      # published paths hold the card digest: same name and size, same file
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        try:
            with open(local, "rb") as source, open(temporary, "wb") as out:
                while block := source.read(BLOCK):
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        lock = self.root / (INDEX_NAME + ".lock")
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                break
            except FileExistsError:
                if _stale(lock):
                    with contextlib.suppress(FileNotFoundError):
                        lock.unlink()
                    continue
                if time.monotonic() > deadline:
                    raise MadataError(f"{lock} has been held for over {LOCK_WAIT_S:.0f} s by another publisher; "
                                      f"if none is running, remove it and publish again") from None
                time.sleep(0.05)
        try:
            os.write(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid()}).encode())
            os.close(fd)
            yield
        finally:
            lock.unlink(missing_ok=True)

    def update_index(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
        with self._locked():
            raw = self.read(INDEX_NAME)
            new = change(empty_index() if raw is None else parse_index(raw, self.url))
            if new is None:
                return
            target = self.root / INDEX_NAME
            temporary = self.root / f".{INDEX_NAME}.{uuid.uuid4().hex}.partial"
            try:
                temporary.write_bytes(dump_index(new))
                with open(temporary, "rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)


def _stale(lock: Path) -> bool:
    """A lock whose writer was a process on this host that no longer runs."""
    try:
        owner = json.loads(lock.read_text() or "{}")
    except (OSError, ValueError):
        # Just created, not yet written: give its owner a moment.
        return time.time() - lock.stat().st_mtime > 5 if lock.exists() else True
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
