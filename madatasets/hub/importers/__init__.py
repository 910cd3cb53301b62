"""Importers of other projects' published datasets: `madata import SOURCE PATH`.

Each importer converts a source's own layout into madata ids under `imported/`
(which cannot collide with madata's own ids), keeping provenance on the card: the
source, the checksums of the original files, and what differs from madata's
scenarios. PATH may be a folder or an archive (zip, tar, tar.gz), unpacked first
without letting any member escape (madatasets/hub/importers/archive.py).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from madatasets.errors import MadataError
from madatasets.hub.importers.archive import is_archive, safe_extract
from madatasets.layout import exclusive
from madatasets.store import Store

UNPACK_PREFIX = ".import-"


@dataclass(frozen=True)
class Importer:
    name: str
    description: str
    layout: str
    run: Callable[..., Iterator[tuple[str, dict[str, Any]]]]
    requirement: str | None = None       # a module it needs that is not a core dependency

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def unavailable_reason(self) -> str | None:
        if self.requirement is None:
            return None
        import importlib.util
        if importlib.util.find_spec(self.requirement) is None:
            return f"it needs the package {self.requirement!r} (pip install {self.requirement})"
        return None


def _registry() -> dict[str, Importer]:
    from madatasets.hub.importers import minari, omar, ogmarl
    return {
        "omar": Importer("omar", "OMAR authors' MPE and HalfCheetah numpy datasets", omar.LAYOUT, omar.import_omar),
        "og-marl": Importer("og-marl", "OG-MARL flashbax vaults", ogmarl.LAYOUT, ogmarl.import_vault,
                            requirement="flashbax"),
        "minari": Importer("minari", "Minari single-agent MuJoCo datasets, split into a MaMuJoCo scenario",
                           minari.LAYOUT, minari.import_minari),
    }


IMPORTERS = _registry()


def run_import(source: str, path: str | Path, store: str | Path | Store | None, **options: Any
               ) -> Iterator[tuple[str, dict[str, Any]]]:
    """Import `path` with the importer named `source`; yields (id, card) per dataset written."""
    importer = IMPORTERS.get(source)
    if importer is None:
        raise MadataError(f"unknown import source {source!r}; valid: {', '.join(IMPORTERS)}")
    reason = importer.unavailable_reason()
    if reason is not None:
        raise MadataError(f"madata import {source}: {reason}")
    path = Path(path)
    store = store if isinstance(store, Store) else Store(store, create=True)
    if not store.exists:
        store = Store(store.root, create=True)
    if not is_archive(path):
        if not path.is_dir():
            raise MadataError(f"{path} is neither a folder nor an archive (.zip, .tar, .tar.gz)")
        yield from importer.run(path, store, **options)
        return
    with unpack_folder(store) as unpacked:
        safe_extract(path, unpacked)
        yield from importer.run(unpacked, store, **options)


@contextlib.contextmanager
def unpack_folder(store: Store) -> Iterator[Path]:
    """A folder beside the store (same file system: no copy across disks) to unpack an archive
    into, removed afterwards; held under a lock so that the next import removes it only if
    the import that made it was killed."""
    for abandoned in store.root.glob(UNPACK_PREFIX + "*"):
        with exclusive(abandoned) as acquired:
            if acquired:
                shutil.rmtree(abandoned, ignore_errors=True)
    unpacked = Path(tempfile.mkdtemp(prefix=UNPACK_PREFIX, dir=store.root))
    try:
        with exclusive(unpacked):
            yield unpacked
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
