"""Which remote a URL names: `open_remote` picks the backend (a local folder or file://,
http(s)://, s3://, any other fsspec URL); the interface every backend implements is
madatasets/hub/remote.py."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from madatasets.errors import MadataError
from madatasets.hub.remote import Remote
from madatasets.hub.remote_fsspec import FsspecRemote
from madatasets.hub.remote_http import HttpRemote
from madatasets.hub.remote_local import LocalRemote
from madatasets.hub.remote_s3 import S3Remote


def open_remote(url: str) -> Remote:
    """The remote for a URL or a folder path."""
    if not isinstance(url, str) or not url.strip():
        raise MadataError("empty remote URL; expected a folder, file://, http(s)://, s3:// or another fsspec URL")
    url = url.strip()
    scheme = urllib.parse.urlparse(url).scheme if "://" in url else ""
    if scheme in ("", "file"):
        path = Path(urllib.parse.urlparse(url).path if scheme else url).expanduser()
        return LocalRemote(path, url)
    if scheme in ("http", "https"):
        return HttpRemote(url)
    if scheme == "s3":
        return S3Remote(url)
    return FsspecRemote(url)
