"""The decentralized track's base: N independent agents, each trained on its own dataset B_i only.

Fully decentralized (MABCQ, Sec 3.1): agent i trains only on its own dataset
B_i = load(id).agent(i) of (s, a_i, r, s') (`PerAgentReplay`). It never sees
another agent's actions, parameters or data. The N agents live in one module with
stacked weights (one batched call per layer) only for speed: member i of every
network reads row i of every tensor, each agent's loss is a per-agent mean and
the total loss a sum over agents, so agent i's gradient is exactly that of its
own loss.

`DecentralizedAlgorithm` holds what bcq, mabcq, ddpg, behavior and awac share:
agent inputs (the state s by default, as in MABCQ; local observations o_i with
observation="local"), standardisation with each agent's own dataset statistics,
acting, the Q-value interface the diagnostics and OTC read, and fitting the
generative models (`generative_step`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from baselines.core.config import AlgorithmConfig
from baselines.core.contract import DataSetting
from baselines.core.replay import OBSERVATION_KINDS, Batch, Replay
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioSpec


@dataclass
class DecentralizedConfig(AlgorithmConfig):
    """Settings every algorithm of the decentralized track shares (MABCQ Table 8 values)."""

    observation: str = "state"             # agent input: "state" s (MABCQ Sec 3.1) or "local" o_i
    normalize_observations: bool = True    # standardise inputs with the agent's own dataset statistics

    def validate(self) -> None:
        super().validate()
        if self.observation not in OBSERVATION_KINDS:
            raise MadataError(f"observation must be one of {', '.join(OBSERVATION_KINDS)}, got {self.observation!r}")


class DecentralizedAlgorithm(nn.Module):
    """N independent agents acting on s (or o_i); subclasses implement `policy` and `update`."""

    name = "decentralized"
    setting: DataSetting = "per-agent"
    has_critic = True            # False for policies without a value estimate (behavior): no diagnostics

    def __init__(self, config: DecentralizedConfig, spec: ScenarioSpec, generator: torch.Generator,
                 observation_statistics: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__()
        config.validate()
        self.config, self.spec, self.generator = config, spec, generator
        self.n_agents, self.act_dim = spec.n_agents, spec.act_dim
        if config.observation == "state":
            self.input_dim = spec.state_dim
            input_mask = torch.ones(self.n_agents, spec.state_dim)
        else:
            self.input_dim = spec.obs_dim
            input_mask = torch.as_tensor(spec.obs_mask, dtype=torch.float32)
        self.register_buffer("input_mask", input_mask)
        self.register_buffer("act_mask", torch.as_tensor(spec.act_mask, dtype=torch.float32))
        # Real entries of a per-agent (input, own action) pair, the input of every f(s, a_i).
        self.pair_mask = torch.cat([self.input_mask, self.act_mask], dim=1)
        mean, std = torch.zeros(self.n_agents, self.input_dim), torch.ones(self.n_agents, self.input_dim)
        if config.normalize_observations and observation_statistics is not None:
            mean, std = observation_statistics
            if mean.shape != (self.n_agents, self.input_dim):
                raise MadataError(f"input statistics have shape {tuple(mean.shape)}, expected "
                                  f"({self.n_agents}, {self.input_dim}) for observation={config.observation!r}")
        self.register_buffer("input_mean", mean.float().unsqueeze(1))
        self.register_buffer("input_std", std.float().unsqueeze(1))
        self.updates = 0

    # -- inputs ---------------------------------------------------------------------
    def normalize(self, inputs: torch.Tensor) -> torch.Tensor:
        """(N, B, D) raw agent inputs -> standardised with each agent's own statistics."""
        return (inputs - self.input_mean) / self.input_std

    def agent_inputs(self, observations: np.ndarray, states: np.ndarray | None) -> torch.Tensor:
        """Raw inputs (N, E, D) from observations (N, E, O) and states (E, S)."""
        if self.config.observation == "state":
            if states is None:
                raise MadataError(f"{self.name} agents observe the global state; pass the states to act()")
            states = torch.as_tensor(np.asarray(states, dtype=np.float32))
            return states.unsqueeze(0).expand(self.n_agents, -1, -1)
        return torch.as_tensor(np.asarray(observations, dtype=np.float32))

    # -- acting -------------------------------------------------------------------
    def policy(self, inputs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Actions (N, B, A) for standardised inputs (N, B, D)."""
        raise NotImplementedError

    def exploration_policy(self, inputs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Actions of online deployments (OTC); the evaluation policy unless overridden (AWAC samples)."""
        return self.policy(inputs, generator)

    @torch.no_grad()
    def act(self, observations: np.ndarray, states: np.ndarray | None = None,
            generator: torch.Generator | None = None) -> np.ndarray:
        """Actions (N, E, A) in [-1, 1]; `generator` drives G1's samples (None: the global stream)."""
        inputs = self.normalize(self.agent_inputs(observations, states))
        return self.policy(inputs, generator).numpy()

    @torch.no_grad()
    def explore(self, observations: np.ndarray, states: np.ndarray | None,
                generator: torch.Generator | None) -> np.ndarray:
        """`act` with the exploration policy: what the agents do during an online deployment."""
        inputs = self.normalize(self.agent_inputs(observations, states))
        return self.exploration_policy(inputs, generator).numpy()

    # -- what the diagnostics read ---------------------------------------------------
    def q_values(self, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Q_i(s, a_i) of the critic that picks actions, for raw inputs (N, B, D): (N, B)."""
        raise NotImplementedError

    def state_values(self, inputs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """V_i(s) = Q_i(s, pi_i(s)) for raw inputs (N, B, D): (N, B)."""
        normalized = self.normalize(inputs)
        return self.q_values(inputs, self.policy(normalized, generator))

    # -- training -------------------------------------------------------------------
    # -- training -------------------------------------------------------------------
    def pretrain(self, replay: Replay, generator: torch.Generator) -> dict[str, float]:
        """Work done once before the update loop (fitting generative models); default none."""
        return {}

    def update(self, batch: Batch) -> dict[str, float]:
        raise NotImplementedError

    def generative_step(self, batch: Batch) -> dict[str, float] | None:
        """One step fitting the generative models (G1, G2) on `batch`; None when there are none.

        Algorithms with VAEs override `generative_loss` and set `vae_optimizer`.
        """
        loss_and_info = self.generative_loss(self.normalize(batch.observations), batch.actions,
                                             self.normalize(batch.next_observations))
        if loss_and_info is None:
            return None
        loss, info = loss_and_info
        self.vae_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.vae_optimizer.step()
        return info

    def generative_loss(self, inputs: torch.Tensor, actions: torch.Tensor,
                        next_inputs: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]] | None:
        """Summed VAE loss of standardised (s, a_i, s') and its metrics; None without generative models."""
        return None


def fit_generative_models(algorithm: DecentralizedAlgorithm, replay: Replay, generator: torch.Generator,
                          updates: int) -> dict[str, float]:
    """Algorithm 1, line 4: fit the VAEs on B_i for `updates` minibatches; returns the last losses."""
    info: dict[str, float] = {}
    for _ in range(updates):
        info = algorithm.generative_step(replay.sample(algorithm.config.batch_size, generator)) or {}
    return info


