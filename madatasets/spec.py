"""Scenario specs: `ScenarioSpec`, the fixed shapes and semantics of one registered
scenario, and the reference scores measured on it (reference_scores.json)."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    from madatasets.backends import _Backend

REFERENCE_SCORES_PATH = Path(__file__).with_name("reference_scores.json")
# An earlier zoo's expert reference, kept when a new zoo's expert is recorded so that
# `-v<N>` datasets made with zoo N keep their yardstick: "expert@zoo-v<N>".
ARCHIVED_EXPERT = "expert@zoo-v"


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    version: int
    family: str
    description: str
    agents: tuple[str, ...]
    obs_sizes: tuple[int, ...]
    act_sizes: tuple[int, ...]
    state_dim: int
    episode_limit: int
    packages: tuple[str, ...]
    builder: Callable[["ScenarioSpec"], "_Backend"] = field(repr=False, compare=False)
    # "continuous": float actions (N, A) in [-1, 1]; "discrete": integer actions (N,) among
    # act_dim choices, with legal-action masks (SMAX; docs/smax.md).
    action_kind: str = "continuous"
    # False for import-only scenarios (SMAC on StarCraft II, madatasets/smac.py): shapes for
    # imported data, no environment to run or evaluate on.
    simulator: bool = True

    @property
    def discrete(self) -> bool:
        return self.action_kind == "discrete"

    @property
    def n_agents(self) -> int:
        return len(self.agents)

    @property
    def obs_dim(self) -> int:
        return max(self.obs_sizes)

    @property
    def act_dim(self) -> int:
        return max(self.act_sizes)

    @property
    def obs_mask(self) -> np.ndarray:
        return np.arange(self.obs_dim)[None, :] < np.asarray(self.obs_sizes)[:, None]

    @property
    def act_mask(self) -> np.ndarray:
        return np.arange(self.act_dim)[None, :] < np.asarray(self.act_sizes)[:, None]

    def package_versions(self) -> dict[str, str]:
        return {name: _installed_version(name) for name in self.packages}

    @property
    def reference_scores(self) -> dict[str, float]:
        """{'random': R, 'expert': R} where measured (see reference_scores.json); the expert
        is the current zoo's (earlier zoos' experts: `expert_reference`)."""
        return {tier: float(info["mean"]) for tier, info in self.reference_details.items()}

    @property
    def reference_details(self) -> dict[str, dict[str, Any]]:
        """Per reference: mean, standard error, episodes, policy, and the zoo version of zoo-made ones."""
        return {tier: info for tier, info in self._references().items() if ARCHIVED_EXPERT not in tier}

    def expert_reference(self, zoo_version: int) -> dict[str, Any] | None:
        """The expert reference measured on zoo version `zoo_version`, current or archived."""
        for tier, info in self._references().items():
            if (tier == "expert" or tier.startswith(ARCHIVED_EXPERT)) and info.get("zoo_version", 0) == zoo_version:
                return info
        return None

    def references_for(self, version: int) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
        """The references that hold for a `-v<version>` dataset (made with zoo version N = its
        version): the zoo-independent ones and the expert measured on that zoo. Without one,
        the expert is left off (normalized scores then refuse, rather than use another zoo's)."""
        details = {tier: info for tier, info in self.reference_details.items() if tier != "expert"}
        expert = self.expert_reference(version)
        if expert is not None:
            details["expert"] = expert
        return {tier: float(info["mean"]) for tier, info in details.items()}, details

    def _references(self) -> dict[str, dict[str, Any]]:
        entry = _load_reference_scores().get(self.name, {})
        keys = ("mean", "stderr", "std", "episodes", "policy", "zoo_version", "seed", "win_rate")
        return {tier: {k: info[k] for k in keys if k in info} for tier, info in entry.items()
                if info.get("scenario_version") == self.version}

    def to_dict(self) -> dict[str, Any]:
        # Continuous scenarios keep the keys they always had (their cards stay as they were).
        discrete = {"action_kind": self.action_kind, "legal_actions": True} if self.discrete else {}
        import_only = {} if self.simulator else {"simulator": False}
        return discrete | import_only | {
            "name": self.name, "version": self.version, "family": self.family,
            "description": self.description, "agents": list(self.agents),
            "obs_sizes": list(self.obs_sizes), "act_sizes": list(self.act_sizes),
            "obs_dim": self.obs_dim, "act_dim": self.act_dim, "state_dim": self.state_dim,
            "episode_limit": self.episode_limit,
            "package_versions": self.package_versions(),
        }


def _installed_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@functools.lru_cache(maxsize=1)
def _load_reference_scores() -> dict[str, dict[str, dict[str, Any]]]:
    if not REFERENCE_SCORES_PATH.exists():
        return {}
    return json.loads(REFERENCE_SCORES_PATH.read_text())


def record_reference(scenario: str, tier: str, entry: dict[str, Any], path: Path | None = None) -> None:
    """Record `entry` as `tier`'s reference score of `scenario` (atomic replace of the JSON file).

    The reference table belongs to this module: measuring is the collectors' job, but
    they record through here, so the file and its cache change in one place.
    """
    path = Path(path) if path is not None else REFERENCE_SCORES_PATH
    scores = json.loads(path.read_text()) if path.exists() else {}
    references = scores.setdefault(scenario, {})
    previous = references.get(tier)
    if tier == "expert" and previous is not None and previous.get("zoo_version", 0) != entry.get("zoo_version", 0):
        references[f"{ARCHIVED_EXPERT}{previous.get('zoo_version', 0)}"] = previous
    references[tier] = entry
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.write_text(json.dumps(scores, indent=2, sort_keys=True) + "\n")
    os.replace(staging, path)
    _load_reference_scores.cache_clear()
