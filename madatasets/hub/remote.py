"""Remotes: where published datasets live (a folder, http(s)://, s3://, other fsspec URLs): the interface
every backend implements (`open_remote`, in madatasets/hub/remotes.py, picks the backend by the URL's scheme).

Each remote reads a file whole (`read`), streams one from an offset (`stream`, for
resumed downloads), and, where it can be written, uploads files (`put_file`) and
changes `index.json` under a guard (`update_index`), so that two publishers cannot
lose each other's entries:

* a local folder (madatasets/hub/remote_local.py): an exclusive lock file
  `index.json.lock`, the new index renamed over the old one;
* S3 (madatasets/hub/remote_s3.py): conditional writes against the index's ETag;
* http(s) (madatasets/hub/remote_http.py) and other fsspec URLs
  (madatasets/hub/remote_fsspec.py) are read-only here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from madatasets.errors import MadataError
from madatasets.hub.index import INDEX_NAME, empty_index, parse_index
from madatasets.hub.retry import with_retries

BLOCK = 1 << 20
# HTTP statuses worth retrying (http(s) and S3).
TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


class RangeIgnored(Exception):
    """The server sent the whole file although we asked for a range: start again from 0."""


class Remote:
    """The interface every remote implements (see the module docstring)."""

    url: str
    writable = False

    def read(self, name: str) -> bytes | None:
        """The file's bytes; None when it does not exist."""
        raise NotImplementedError

    def stream(self, name: str, offset: int) -> Iterator[bytes]:
        """The file's bytes from `offset` on (RangeIgnored when they start at 0 instead)."""
        raise NotImplementedError

    def size(self, name: str) -> int | None:
        raise NotImplementedError

    def require_writable(self) -> None:
        if not self.writable:
            raise MadataError(f"{self.url} is read-only for madata; publish to a local folder or an s3:// URL")

    def put_file(self, name: str, local: Path) -> None:
        self.require_writable()

    def update_index(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
        """Apply `change` to the current index under the remote's guard (None: leave it)."""
        self.require_writable()

    def index(self) -> dict[str, Any]:
        """The validated index (empty when the remote has none yet)."""
        raw = with_retries(lambda: self.read(INDEX_NAME), f"reading {self.url}/{INDEX_NAME}")
        return empty_index() if raw is None else parse_index(raw, self.url)

    def has_root(self) -> bool:
        """False for a remote that does not exist yet (a local folder a publish will create)."""
        return True

    def describe(self, name: str) -> str:
        return f"{self.url.rstrip('/')}/{name}"
