"""A read-only remote at any other fsspec URL (gs://, hf://, ...)."""

from __future__ import annotations

from typing import Any, Callable, Iterator

from madatasets.errors import MadataError
from madatasets.hub.paths import safe_relative
from madatasets.hub.remote import BLOCK, Remote
from madatasets.hub.retry import TransientError


class FsspecRemote(Remote):
    def __init__(self, url: str):
        import fsspec
        self.url = url.rstrip("/")
        try:
            self._fs, self._root = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as error:
            raise MadataError(f"cannot open remote {url!r}: {error}") from None

    def _path(self, name: str) -> str:
        return f"{self._root.rstrip('/')}/{safe_relative(name, self.url)}"

    def _call(self, name: str, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except FileNotFoundError:
            return None
        except (TimeoutError, ConnectionError) as error:
            raise TransientError(str(error) or type(error).__name__) from None
        except (OSError, ValueError) as error:
            raise MadataError(f"{self.describe(name)}: {error}") from None

    def read(self, name: str) -> bytes | None:
        return self._call(name, lambda: self._fs.cat_file(self._path(name)))

    def size(self, name: str) -> int | None:
        return self._call(name, lambda: self._fs.size(self._path(name)))

    def stream(self, name: str, offset: int) -> Iterator[bytes]:
        total = self.size(name)
        if total is None:
            raise MadataError(f"{self.describe(name)} does not exist (the remote is missing a file its index lists)")
        while offset < total:
            end = min(offset + BLOCK, total)
            block = self._call(name, lambda: self._fs.cat_file(self._path(name), start=offset, end=end))
            if not block:
                return
            offset += len(block)
            yield block
