"""Known public locations of other projects' datasets (`sources.json`, shipped; a mirror
or a test may point `$MADATA_SOURCES` at another file), so that
`madata download og-marl/smacv1-3m/Good` fetches and converts in one step.

An entry names the archive's path under the source's `base_url`, the qualities in it,
the madata scenario whose shapes the data has (null when none has), and, where known,
the archive's size and sha256. The field's sources publish no checksums: then the
archive's own member CRCs are checked as it unpacks and the sha256 of the bytes
fetched is recorded on the card, so that later imports can be compared.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from madatasets.errors import MadataError
from madatasets.hub.paths import safe_relative
from madatasets.hub.remotes import open_remote
from madatasets.hub.retry import with_retries
from madatasets.hub.transfer import FileSink, transfer

DOWNLOADS = ".downloads"


def sources() -> dict[str, Any]:
    override = os.environ.get("MADATA_SOURCES")
    try:
        text = Path(override).read_text() if override else \
            resources.files("madatasets.hub").joinpath("sources.json").read_text()
        listed = json.loads(text)["sources"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise MadataError(f"sources file {override or 'sources.json'} is unreadable ({error})") from None
    if not isinstance(listed, dict):
        raise MadataError(f"sources file {override or 'sources.json'}: 'sources' must be an object")
    return listed


def source_of(spec: str) -> dict[str, Any] | None:
    """The source a download spec names ('og-marl/...'), or None for a madata id."""
    return sources().get(spec.split("/", 1)[0])


def download_from_source(spec: str, store: str | os.PathLike | None, overwrite: bool = False,
                         progress: bool = True) -> str:
    """Fetch `<source>/<dataset>/<quality>` and convert it with the source's importer; returns
    the line the CLI prints."""
    from madatasets.hub.importers import IMPORTERS, run_import
    from madatasets.store import Store
    parts = spec.split("/")
    source_name = parts[0]
    source = sources()[source_name]
    known = source.get("datasets", {})
    if len(parts) < 2 or parts[1] not in known:
        raise MadataError(f"{spec!r} is not a known {source_name} dataset; known: "
                          f"{', '.join(sorted(known)[:12]) or 'none'} (sources.json)")
    dataset = known[parts[1]]
    qualities = dataset.get("qualities", [])
    if len(parts) != 3 or parts[2] not in qualities:
        raise MadataError(f"{spec!r}: name a quality, {source_name}/{parts[1]}/<quality> with quality one of "
                          f"{', '.join(qualities)}")
    quality = parts[2]
    importer = IMPORTERS.get(source.get("importer", ""))
    where = f"{source['base_url'].rstrip('/')}/{dataset['path']}"
    if importer is None or not importer.available():
        reason = importer.unavailable_reason() if importer is not None else "no importer is registered for it"
        raise MadataError(f"{spec}: cannot convert {source_name} datasets here: {reason}")
    if not dataset.get("scenario"):
        raise MadataError(f"{spec}: no madata scenario has the shapes of {source_name}'s {parts[1]} "
                          f"({dataset.get('note', 'see sources.json')}); the archive is at {where}")
    if not source.get("fetchable", True):
        raise MadataError(f"{spec}: {source_name}'s files cannot be fetched by a program "
                          f"({source.get('description', '')}); download them by hand and run "
                          f"`madata import {importer.name} PATH --scenario {dataset['scenario']}`")
    store = Store(store, create=True)
    if not store.exists:
        store = Store(store.root, create=True)
    remote = open_remote(source["base_url"])
    name = str(safe_relative(dataset["path"], f"sources.json {source_name}/{parts[1]}"))
    size = dataset.get("size")
    if size is None:
        size = with_retries(lambda: remote.size(name), f"asking {where} for its size")
        if size is None:
            raise MadataError(f"{where}: not found (HTTP 404), or the server does not say how large it is")
    folder = store.root / DOWNLOADS / "sources" / source_name
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / Path(name).name
    part = archive.with_name(archive.name + ".part")
    from tqdm import tqdm
    with tqdm(total=size, unit="B", unit_scale=True, desc=spec, disable=None if progress else True,
              leave=False) as bar:
        digest = transfer(remote, name, size, dataset.get("sha256"), FileSink(part), progress=bar.update)
    os.replace(part, archive)
    fetched = {"url": where, "size": size, "sha256": digest,
               "sha256_published": dataset.get("sha256") is not None}
    from madatasets.hub.importers import unpack_folder
    from madatasets.hub.importers.archive import safe_extract
    with unpack_folder(store) as unpacked:
        safe_extract(archive, unpacked)
        chosen = _quality_folder(unpacked, quality, spec)
        written = list(run_import(importer.name, chosen, store, scenario=dataset["scenario"], overwrite=overwrite,
                                  provenance={"fetched": fetched}))
    archive.unlink(missing_ok=True)
    dataset_id, card = written[0]
    return (f"downloaded {spec} from {where} (sha256 {digest[:12]}) and imported {dataset_id}: "
            f"{card['total_steps']} steps, {card['total_episodes']} episodes")


def _quality_folder(root: Path, quality: str, spec: str) -> Path:
    matches = sorted(p for p in root.rglob(quality) if p.is_dir() and not p.is_symlink())
    if len(matches) != 1:
        raise MadataError(f"{spec}: the archive has {len(matches)} folders named {quality!r}; expected one")
    return matches[0]
