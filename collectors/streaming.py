"""Streaming collection: episodes go to the store shard by shard as the rollout yields them.

Memory then holds one shard per array (a few tens of MB) plus one row per episode
for `episode_ends` and the final observations, whatever the step budget; the
arrays and checksums are exactly those `assemble` builds from the same episodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from collectors.rollout import episode_rows
from madatasets.scenarios import episode_return
from madatasets.writer import StreamArray, VersionWriter

STEP_ARRAYS = ("observations", "actions", "rewards", "terminations", "truncations", "states", "behavior_ids")


class EpisodeSink:
    """Called with each episode in order (rollout's `on_episode`); `finish` writes the
    per-episode arrays. `steps` is the exact number of rows the rollout will produce."""

    def __init__(self, version: VersionWriter, n_agents: int, steps: int, prefix: str = ""):
        self.version, self.n_agents, self.steps, self.prefix = version, n_agents, steps, prefix
        self.streams: dict[str, StreamArray] = {}
        self.ends: list[int] = []
        self.final_observations: list[np.ndarray] = []
        self.final_states: list[np.ndarray] = []
        # Returns of complete episodes only: a budget-cut episode is not one.
        self.complete_returns: list[float] = []
        self.rows = 0

    def __call__(self, episode: dict[str, Any]) -> None:
        rows = episode_rows(episode, self.n_agents)
        if not self.streams:
            # Shapes and dtypes from the first episode, so the sink follows what rollouts record.
            for name in STEP_ARRAYS:
                self.streams[name] = self.version.stream(self.prefix + name, (self.steps,) + rows[name].shape[1:],
                                                         rows[name].dtype)
        for name in STEP_ARRAYS:
            self.streams[name].append(rows[name])
        self.rows += len(episode["actions"])
        self.ends.append(self.rows)
        # Copies: the rows are views of the episode's recorder arrays, which they would keep alive
        # (the whole collection's observations and states, one episode at a time).
        self.final_observations.append(rows["final_observations"][0].copy())
        self.final_states.append(rows["final_states"][0].copy())
        if not episode["budget_cut"]:
            self.complete_returns.append(episode_return(episode["rewards"]))

    @property
    def episodes(self) -> int:
        return len(self.ends)

    def finish(self) -> None:
        """Write episode_ends and the final rows (after the step arrays, in assemble's order)."""
        self.version.put(self.prefix + "episode_ends", np.asarray(self.ends, dtype=np.int64))
        self.version.put(self.prefix + "final_observations", np.stack(self.final_observations))
        self.version.put(self.prefix + "final_states", np.stack(self.final_states))
