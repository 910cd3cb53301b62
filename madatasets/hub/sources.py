"""Known public locations of other projects' datasets (`sources.json`, shipped), so that
`madata download og-marl/smacv1-3m/Good` can fetch and convert in one step."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from madatasets.errors import MadataError


@lru_cache(maxsize=1)
def sources() -> dict[str, Any]:
    return json.loads(resources.files("madatasets.hub").joinpath("sources.json").read_text())["sources"]


def source_of(spec: str) -> dict[str, Any] | None:
    """The source a download spec names ('og-marl/...'), or None for a madata id."""
    head = spec.split("/", 1)[0]
    return sources().get(head)


def download_from_source(spec: str, store: str | None, overwrite: bool = False, progress: bool = True) -> str:
    """Fetch a dataset of a known source and convert it with its importer."""
    source_name, _, dataset = spec.partition("/")
    source = sources()[source_name]
    known = source.get("datasets", {})
    if dataset not in known:
        raise MadataError(f"{spec!r} is not a known {source_name} dataset; known: "
                          f"{', '.join(sorted(known)[:12]) or 'none'} (sources.json)")
    from madatasets.hub.importers import IMPORTERS
    importer = IMPORTERS.get(source["importer"])
    if importer is None or not importer.available():
        reason = importer.unavailable_reason() if importer is not None else "no importer is registered for it"
        raise MadataError(f"{spec}: cannot convert {source_name} datasets here: {reason}; the files are at "
                          f"{source['base_url']}/{known[dataset]['path']}")
    raise MadataError(f"{spec}: fetching from {source['base_url']} is not implemented yet; download "
                      f"{known[dataset]['path']} yourself and run `madata import {source['importer']} PATH`")
