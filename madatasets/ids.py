"""Dataset ids: `<scenario>/<quality>-v<N>` (and `imported/<name>/<quality>-v<N>`), parsed strictly."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from madatasets.errors import MadataError
from madatasets.scenarios import get_spec, scenario_names

QUALITIES = ("random", "medium", "medium-replay", "expert", "medium-expert", "mixed")
# ASCII only, whole string: `$` would accept a trailing newline and `\d` full-width digits.
# Underscores appear in SMAC map names (smax-5m_vs_6m, smacv1-3s5z_vs_3s6z).
_ID_PATTERN = re.compile(r"(?P<scenario>[a-z0-9][a-z0-9_-]{0,63})/(?P<quality>[a-z-]{1,32})-v(?P<version>[0-9]{1,9})",
                         re.ASCII)
MAX_VERSION = 999_999_999
# Datasets converted from other projects' releases (madatasets/hub/importers) live under
# `imported/<name>/<quality>-v<N>`: no registered scenario is named `imported`, so they
# cannot collide with ours, and their names need not be registered scenarios.
IMPORTED = "imported"
_IMPORTED_PATTERN = re.compile(r"imported/(?P<name>[a-z0-9][a-z0-9_-]{0,63})/(?P<quality>[a-z-]{1,32})"
                               r"-v(?P<version>[0-9]{1,9})", re.ASCII)


@dataclass(frozen=True)
class DatasetId:
    scenario: str
    quality: str
    version: int

    def __post_init__(self) -> None:
        if not 0 <= self.version <= MAX_VERSION:
            raise MadataError(f"dataset version {self.version} out of range; valid: 0..{MAX_VERSION}")

    def __str__(self) -> str:
        return f"{self.scenario}/{self.quality}-v{self.version}"

    @property
    def relative_path(self) -> Path:
        return Path(self.scenario) / f"{self.quality}-v{self.version}"


def parse_id(dataset_id: str) -> DatasetId:
    """Parse '<scenario>/<quality>-v<N>' (or 'imported/<name>/<quality>-v<N>'), checking
    scenario and quality."""
    if isinstance(dataset_id, str) and dataset_id.startswith(IMPORTED + "/") and len(dataset_id) <= 130:
        imported = _IMPORTED_PATTERN.fullmatch(dataset_id)
        if imported is None:
            raise MadataError(f"invalid imported dataset id {dataset_id[:80]!r}; expected "
                              f"imported/<name>/<quality>-v<N> (lowercase ASCII), e.g. imported/omar-mpe-spread-3-s0/expert-v0")
        if imported["quality"] not in QUALITIES:
            raise MadataError(f"unknown quality {imported['quality']!r} in {dataset_id!r}; valid: {', '.join(QUALITIES)}")
        return DatasetId(f"{IMPORTED}/{imported['name']}", imported["quality"], int(imported["version"]))
    match = _ID_PATTERN.fullmatch(dataset_id) if isinstance(dataset_id, str) and len(dataset_id) <= 120 else None
    if not match:
        shown = dataset_id if not isinstance(dataset_id, str) or len(dataset_id) <= 60 else dataset_id[:60] + "..."
        raise MadataError(f"invalid dataset id {shown!r}; expected <scenario>/<quality>-v<N> (ASCII, N up to "
                          f"{len(str(MAX_VERSION))} digits), e.g. mpe-spread-3/random-v0")
    scenario, quality = match["scenario"], match["quality"]
    get_spec(scenario)
    if quality not in QUALITIES:
        raise MadataError(f"unknown quality {quality!r} in {dataset_id!r}; valid: {', '.join(QUALITIES)}")
    return DatasetId(scenario, quality, int(match["version"]))


def id_namespaces(root: Path) -> list[str]:
    """The directories of a store rooted at `root` that can hold ids: every registered scenario, then each
    imported name."""
    names = list(scenario_names())
    imported = root / IMPORTED
    if imported.is_dir():
        names += [f"{IMPORTED}/{entry.name}" for entry in sorted(imported.iterdir())
                  if entry.is_dir() and not entry.name.startswith(".")]
    return names
