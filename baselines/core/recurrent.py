"""Recurrent (GRU) agents of the discrete track: the shared network and the hidden states of acting.

`RecurrentSharedNetwork` is `SharedNetwork` with memory: (observation, one-hot agent
id) -> MLP encoder -> GRU -> one value per action, one network for every agent
(PyMARL's RNN agent for hidden=(64, 64): 64-unit layer, 64-unit GRU, linear head).
Training unrolls it over sequences (baselines/core/sequences.py); acting steps it
once per environment step with `SlotMemory`, which keeps one hidden state per
evaluation environment slot, zero at each episode's start.
"""

from __future__ import annotations

import torch
from torch import nn

from madatasets.errors import MadataError


class RecurrentSharedNetwork(nn.Module):
    """(observations (B, L, N, O), hidden (B, N, H) or None: zeros) -> (values (B, L, N, A), hidden (B, N, H)).

    `hidden` widths: every width but the last is an encoder layer (ReLU), the last is the GRU's.
    """

    def __init__(self, obs_dim: int, n_agents: int, n_actions: int, hidden: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        width = obs_dim + n_agents
        for size in hidden[:-1]:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.encoder = nn.Sequential(*layers)
        self.width = hidden[-1]
        self.gru = nn.GRU(width, self.width, batch_first=True)
        self.head = nn.Linear(self.width, n_actions)
        self.register_buffer("ids", torch.eye(n_agents))

    def forward(self, observations: torch.Tensor,
                hidden: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        b, steps, n, _ = observations.shape
        ids = self.ids.expand(*observations.shape[:-1], self.ids.shape[-1])
        features = self.encoder(torch.cat([observations, ids], dim=-1))               # (B, L, N, F)
        # One GRU sequence per (sequence, agent): (B * N, L, F).
        features = features.transpose(1, 2).reshape(b * n, steps, features.shape[-1])
        start = None if hidden is None else hidden.reshape(1, b * n, self.width).contiguous()
        outputs, last = self.gru(features, start)
        outputs = outputs.reshape(b, n, steps, self.width).transpose(1, 2)            # (B, L, N, H)
        return self.head(outputs), last.reshape(b, n, self.width)


class SlotMemory:
    """The hidden state of every environment slot of an evaluation wave, zero at its episode's start.

    run_lockstep passes the live environments in slot order (all of them at a wave's
    first step, then those whose episode has not ended), so the live slots' rows,
    in order, are the policy call's columns. `begin(E)` starts a wave of E episodes,
    `end(slot)` takes an ended episode's slot out of the columns.
    """

    def __init__(self, n_agents: int, width: int):
        self.n_agents, self.width = n_agents, width
        self.hidden = torch.zeros(0, n_agents, width)
        self.live = torch.zeros(0, dtype=torch.bool)

    def begin(self, n_envs: int) -> None:
        self.hidden = torch.zeros(n_envs, self.n_agents, self.width)
        self.live = torch.ones(n_envs, dtype=torch.bool)

    def end(self, slot: int) -> None:
        self.live[slot] = False

    def step(self, network: RecurrentSharedNetwork, observations: torch.Tensor) -> torch.Tensor:
        """Values (E, N, A) for the live slots' observations (E, N, O), advancing their hidden states.

        A call with no live slot (nothing begun, or every episode ended) begins a wave of E episodes.
        """
        if not self.live.any():
            self.begin(len(observations))
        if len(observations) != int(self.live.sum()):
            raise MadataError(f"a recurrent policy got {len(observations)} environments but holds the hidden "
                              f"states of {int(self.live.sum())} live ones: call begin_episodes(n) at the start "
                              f"of episodes and end_episode(slot) when one ends")
        values, hidden = network(observations.unsqueeze(1), self.hidden[self.live])
        self.hidden[self.live] = hidden
        return values[:, 0]
