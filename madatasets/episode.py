"""Typed views of a loaded dataset: `DatasetCard` (the card's fields, typed) and `Episode`
(one episode's arrays), Minari-style."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from madatasets.scenarios import episode_return


@dataclass(frozen=True)
class DatasetCard(Mapping):
    """A dataset card with its fields typed.

    It is also the read-only mapping it was made from (`card["returns"]`, `dict(card)`),
    so code written against the card's JSON keeps working; `to_dict()` gives a copy.
    """

    id: str
    scenario: str
    scenario_version: int
    quality: str
    version: int
    layout: str
    total_steps: int
    total_episodes: int
    seed: int
    returns: Mapping[str, float]
    reference_scores: Mapping[str, Any]
    checksums: Mapping[str, str]
    package_versions: Mapping[str, str]
    behavior_policies: tuple[Mapping[str, Any], ...]
    zoo_version: int | None
    created: str
    command: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @staticmethod
    def from_dict(card: Mapping[str, Any]) -> "DatasetCard":
        return DatasetCard(
            id=card["id"], scenario=card["scenario"], scenario_version=int(card["scenario_version"]),
            quality=card["quality"], version=int(card["version"]), layout=card["layout"],
            total_steps=int(card["total_steps"]), total_episodes=int(card["total_episodes"]),
            seed=int(card.get("seed", 0)), returns=dict(card.get("returns", {})),
            reference_scores=dict(card.get("reference_scores", {})), checksums=dict(card.get("checksums", {})),
            package_versions=dict(card.get("package_versions", {})),
            behavior_policies=tuple(card.get("behavior_policies", ())), zoo_version=card.get("zoo_version"),
            created=str(card.get("created", "")), command=str(card.get("command", "")), raw=dict(card))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


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
