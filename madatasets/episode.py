"""Typed views of a loaded dataset: `DatasetCard` (the card, its fields typed) and `Episode`
(one episode's arrays), Minari-style."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from madatasets.scenarios import episode_return


def _field(key: str, kind: type, default: Any = None) -> property:
    def read(card: "DatasetCard") -> Any:
        value = card.get(key, default)
        return kind(value) if value is not None and kind in (int, str) else value
    return property(read, doc=f"The card's {key!r}.")


class DatasetCard(dict):
    """A dataset card: the card's JSON object with its fields typed as attributes.

    Still the dict it was read as (`card["returns"]`, `json.dumps(card)`), so code
    written against the card's keys keeps working; `to_dict()` gives a plain copy.
    """

    id: str = _field("id", str)
    scenario: str = _field("scenario", str)
    scenario_version: int = _field("scenario_version", int)
    quality: str = _field("quality", str)
    version: int = _field("version", int)
    layout: str = _field("layout", str)
    total_steps: int = _field("total_steps", int)
    total_episodes: int = _field("total_episodes", int)
    seed: int = _field("seed", int, 0)
    zoo_version: int | None = _field("zoo_version", int)
    created: str = _field("created", str, "")
    command: str = _field("command", str, "")
    returns: Mapping[str, float] = _field("returns", dict, {})
    reference_scores: Mapping[str, Any] = _field("reference_scores", dict, {})
    checksums: Mapping[str, str] = _field("checksums", dict, {})
    package_versions: Mapping[str, str] = _field("package_versions", dict, {})
    behavior_policies: list[Mapping[str, Any]] = _field("behavior_policies", list, [])

    @staticmethod
    def from_dict(card: Mapping[str, Any]) -> "DatasetCard":
        missing = [key for key in ("id", "scenario", "scenario_version", "quality", "version", "layout",
                                   "total_steps", "total_episodes") if key not in card]
        if missing:
            from madatasets.errors import MadataError
            raise MadataError(f"dataset card {card.get('id', '?')} lacks {', '.join(missing)}")
        return DatasetCard(card)

    def to_dict(self) -> dict[str, Any]:
        return dict(self)


@dataclass(frozen=True)
class Episode:
    """One episode, time-major: L steps of N agents (states are the global state)."""

    index: int
    observations: np.ndarray        # (L, N, O)
    actions: np.ndarray             # (L, N, A)
    rewards: np.ndarray             # (L, N)
    next_observations: np.ndarray   # (L, N, O)
    terminations: np.ndarray        # (L, N)
    truncations: np.ndarray         # (L, N)
    states: np.ndarray              # (L, S)
    next_states: np.ndarray         # (L, S)
    behavior_ids: np.ndarray        # (L, N)

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    @property
    def total_return(self) -> float:
        """The scenario's episode return: the sum over steps of the mean reward over agents."""
        return episode_return(self.rewards)

    @property
    def terminated(self) -> bool:
        return bool(self.terminations[-1].any())
