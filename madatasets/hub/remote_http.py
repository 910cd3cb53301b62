"""A read-only remote served over http(s); downloads resume with Range requests."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterator

from madatasets.errors import MadataError
from madatasets.hub.paths import safe_relative
from madatasets.hub.remote import BLOCK, TRANSIENT_STATUS, RangeIgnored, Remote
from madatasets.hub.retry import TransientError, timeout


class HttpRemote(Remote):
    """A published folder served over http(s); resumed with Range requests."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def _open(self, name: str, offset: int = 0, method: str = "GET") -> http.client.HTTPResponse | None:
        quoted = "/".join(urllib.parse.quote(part) for part in safe_relative(name, self.url).parts)
        request = urllib.request.Request(f"{self.url}/{quoted}", method=method,
                                         headers={"User-Agent": "madata", "Accept-Encoding": "identity"})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            return urllib.request.urlopen(request, timeout=timeout())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            if error.code == 416:
                raise RangeIgnored() from None
            if error.code in TRANSIENT_STATUS:
                raise TransientError(f"HTTP {error.code} {error.reason}") from None
            raise MadataError(f"HTTP {error.code} {error.reason} from {request.full_url}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            raise TransientError(str(reason) or type(reason).__name__) from None

    def read(self, name: str) -> bytes | None:
        response = self._open(name)
        if response is None:
            return None
        with response:
            try:
                return response.read()
            except (OSError, http.client.HTTPException) as error:
                raise TransientError(str(error) or type(error).__name__) from None

    def size(self, name: str) -> int | None:
        response = self._open(name, method="HEAD")
        if response is None:
            return None
        with response:
            length = response.headers.get("Content-Length")
            return int(length) if length and length.isdigit() else None

    def stream(self, name: str, offset: int) -> Iterator[bytes]:
        response = self._open(name, offset)
        if response is None:
            raise MadataError(f"HTTP 404 Not Found from {self.describe(name)} (the remote is missing a file its "
                              f"index lists)")
        with response:
            if offset and response.status != 206:
                raise RangeIgnored()
            if offset and not (response.headers.get("Content-Range") or "").startswith(f"bytes {offset}-"):
                raise RangeIgnored()
            while True:
                try:
                    block = response.read(BLOCK)
                except (OSError, http.client.HTTPException) as error:
                    raise TransientError(str(error) or type(error).__name__) from None
                if not block:
                    return
                yield block
