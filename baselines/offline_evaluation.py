"""Evaluation on import-only scenarios (SMAC on StarCraft II): no online score, offline metrics only.

There is no simulator for these scenarios here (madatasets/smac.py), so a run on their
data records no return, normalized score or win rate: every evaluation point says
`online_evaluation: skipped (...)`, and carries what can be measured from the data
alone, the agreement of the policy's greedy legal action with the dataset's action
on a fixed sample of its rows (seeded, the same rows at every point).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from baselines.core.discrete import DiscreteReplay
from madatasets.smac import no_simulator_message

AGREEMENT_ROWS = 4096       # rows of the dataset the agreement is measured on (all, if fewer)


class OfflineOnlyEvaluator:
    def __init__(self, scenario: str, replay: DiscreteReplay, seed: int = 0):
        self.reason = f"skipped ({no_simulator_message(scenario)})"
        generator = torch.Generator().manual_seed(seed)
        rows = min(AGREEMENT_ROWS, replay.size)
        self.rows = torch.randperm(replay.size, generator=generator)[:rows]
        self.replay = replay

    def point(self, algorithm: Any, references: dict[str, float]) -> dict[str, Any]:
        observations = self.replay.observations[self.rows].numpy().transpose(1, 0, 2)     # (N, E, O)
        legal = self.replay.legal[self.rows].numpy().transpose(1, 0, 2)                    # (N, E, A)
        states = self.replay.states[self.rows].numpy()
        algorithm.begin_episodes(len(self.rows))     # a recurrent policy reads each row from a zero hidden state
        chosen = algorithm.act(observations, states, torch.Generator().manual_seed(0), legal=legal)   # (N, E)
        data = self.replay.actions[self.rows].numpy().T
        return {"mean_return": None, "std_return": None, "normalized": None, "returns": [],
                "online_evaluation": self.reason,
                "offline": {"action_agreement": float(np.mean(chosen == data)), "rows": int(len(self.rows))}}

    def close(self) -> None:
        pass
