"""Public dataset cards: remotes with an `index.json`, publish, download, read-only remote
stores and importers of other projects' datasets (docs/hub.md)."""

from __future__ import annotations

from madatasets.hub.download import Downloaded, download
from madatasets.hub.publish import Published, publish
from madatasets.hub.remote_store import RemoteStore, is_url

__all__ = ["Downloaded", "Published", "RemoteStore", "download", "is_url", "publish"]
