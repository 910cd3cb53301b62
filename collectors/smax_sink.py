"""Write one discrete dataset piece by piece as its episodes are rolled out (collectors/smax_collect.py).

The discrete schema (docs/store.md) in its fixed array order: the per-step arrays
(observations, actions, legal_actions, rewards, terminations, truncations, states,
behavior_ids) are streamed into the new version as each `EpisodeBlock` of whole episodes
arrives; the per-episode arrays (episode_ends, final_observations, final_states,
final_legal_actions, won) are small and written by `finish`. Memory is then bounded by a
block and the store's shard buffers, whatever the step budget, and the arrays are the same
bytes as one block holding every episode would give.
"""

from __future__ import annotations

import numpy as np

from madatasets.scenarios import episode_returns
from madatasets.smax_vector import EpisodeBlock
from madatasets.writer import StreamArray, VersionWriter

STEP_ARRAYS = ("observations", "actions", "legal_actions", "rewards", "terminations", "truncations", "states",
               "behavior_ids")


class DiscreteSink:
    """Dataset `prefix` of a version, `rows` steps in all, filled with `append(block, behavior)`."""

    def __init__(self, version: VersionWriter, prefix: str, rows: int, n_agents: int):
        self.version, self.prefix, self.rows, self.n_agents = version, prefix, rows, n_agents
        self.streams: dict[str, StreamArray] = {}
        self.written = 0
        self.ends: list[np.ndarray] = []
        self.finals: dict[str, list[np.ndarray]] = {"final_observations": [], "final_states": [],
                                                     "final_legal_actions": [], "won": []}
        # Episodes cut by the step budget are not episodes for the statistics.
        self.complete_returns: list[np.ndarray] = []
        self.complete_won: list[np.ndarray] = []

    def append(self, block: EpisodeBlock, behavior: tuple[int, ...]) -> None:
        """Rows of whole episodes (the last one possibly budget-cut), every ally with its behaviour id."""
        steps = len(block.actions)
        last = block.ends - 1
        terminations = np.zeros((steps, self.n_agents), dtype=bool)
        truncations = np.zeros((steps, self.n_agents), dtype=bool)
        terminations[last[block.terminated]] = True
        truncations[last[block.truncated & ~block.terminated]] = True
        arrays = {"observations": block.observations, "actions": block.actions, "legal_actions": block.legal_actions,
                  "rewards": block.rewards, "terminations": terminations, "truncations": truncations,
                  "states": block.states,
                  "behavior_ids": np.broadcast_to(np.asarray(behavior, np.int16), (steps, self.n_agents))}
        for name in STEP_ARRAYS:
            if name not in self.streams:
                self.streams[name] = self.version.stream(self.prefix + name, (self.rows,) + arrays[name].shape[1:],
                                                         arrays[name].dtype)
            self.streams[name].append(arrays[name])
        self.ends.append(block.ends + self.written)
        self.written += steps
        for name, values in (("final_observations", block.final_observations), ("final_states", block.final_states),
                             ("final_legal_actions", block.final_legal_actions), ("won", block.won)):
            self.finals[name].append(values)
        complete = ~block.budget_cut
        self.complete_returns.append(episode_returns(block.rewards, block.ends)[complete])
        self.complete_won.append(block.won[complete].astype(bool))

    def finish(self) -> None:
        """The per-episode arrays, after the per-step ones."""
        self.version.put(self.prefix + "episode_ends", np.concatenate(self.ends).astype(np.int64))
        for name, parts in self.finals.items():
            values = np.concatenate(parts)
            self.version.put(self.prefix + name, values.astype(bool) if name == "won" else values)

    @property
    def episodes(self) -> int:
        return sum(len(ends) for ends in self.ends)
