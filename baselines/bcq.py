"""BCQ, one independent agent per dataset B_i: the base of the decentralized offline track.

Fully decentralized (MABCQ, Sec 3.1): agent i trains only on its own dataset
B_i = load(id).agent(i) of (s, a_i, r, s'). It never sees another agent's
actions, parameters or data. The N agents live in one module with stacked
weights (one batched call per layer) only for speed: member i of every network
reads row i of every tensor, each agent's loss is a per-agent mean and the total
loss a sum over agents, so agent i's gradient is exactly that of its own loss.

This file also holds what every algorithm of the track shares:
  * `PerAgentReplay`: agent i's minibatch rows come from B_i only;
  * `DecentralizedAlgorithm`: agent inputs (the state s by default, as in MABCQ;
    local observations o_i with observation="local"), standardisation with each
    agent's own dataset statistics, acting, checkpoints, the Q-value interface the
    diagnostics use.

BCQ (Fujimoto et al., 2019) per agent: a conditional VAE G1(a_i | s), a
perturbation network xi(s, a) in [-Phi, Phi], twin critics with targets.
  acting:  pi(s) = argmax_{a_j + xi(s, a_j)} Q1(s, .) over a_j ~ G1(s), j = 1..n
  target:  y = r + gamma (1 - done) max_j [0.75 min_k + 0.25 max_k] Q'_k(s', a'_j + xi'(s', a'_j))
  critic:  sum_k E |Q_k(s, a_i) - y|^2;   xi: maximise E Q1(s, a + xi(s, a)), a ~ G1(s)
As in MABCQ's Algorithm 1, G1 is fitted on B_i before Q/xi learning (`pretrain`)
and frozen afterwards. `sample_weights` is the hook MABCQ fills with
lambda_tn * lambda_vd; BCQ weighs every sample 1.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from baselines.core.networks import StackedMLP, make_target, soft_update
from baselines.core.replay import Batch
from baselines.core.vae import StackedConditionalVAE
from madatasets.dataset import AgentDataset, Dataset
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioSpec

OBSERVATION_KINDS = ("state", "local")


@dataclass
class DecentralizedConfig:
    """Settings every algorithm of the decentralized track shares."""

    gamma: float = 0.99                    # discount (Table 8)
    batch_size: int = 1024                 # transitions per agent per update (Table 8)
    hidden: tuple[int, ...] = (64, 64)     # hidden layers of every network (Table 8)
    observation: str = "state"             # agent input: "state" s (MABCQ Sec 3.1) or "local" o_i
    normalize_observations: bool = True    # standardise inputs with the agent's own dataset statistics
    critic: str = "decentralized"          # the harness's field; this track is decentralized only
    independent_batches: bool = True       # always: agent i's rows come from B_i

    def validate(self) -> None:
        if self.critic != "decentralized":
            raise MadataError("the decentralized track (bcq, mabcq, ddpg, behavior) has no centralized critic; "
                              "valid --critic: decentralized")
        if self.observation not in OBSERVATION_KINDS:
            raise MadataError(f"observation must be one of {', '.join(OBSERVATION_KINDS)}, got {self.observation!r}")
        if not 0.0 < self.gamma <= 1.0:
            raise MadataError(f"gamma must be in (0, 1], got {self.gamma}")
        if self.batch_size < 1:
            raise MadataError(f"batch_size must be positive, got {self.batch_size}")
        if not self.hidden or any(width < 1 for width in self.hidden):
            raise MadataError(f"hidden must be positive layer widths like 64,64, got {self.hidden}")

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["hidden"] = list(self.hidden)
        return values


# -- data ------------------------------------------------------------------------
class PerAgentReplay:
    """Every agent's own dataset B_i in memory; a minibatch holds rows of B_i for agent i only.

    Agent i's rows are floor(u * len(B_i)) for uniforms u drawn with shape (N, B)
    before any dataset is looked at, so they depend on B_i's length and the seed,
    never on another agent's dataset. All datasets are concatenated into one flat
    table (with per-agent offsets) so that a minibatch is a single gather.
    """

    def __init__(self, agents: Sequence[AgentDataset], observation: str = "state"):
        if observation not in OBSERVATION_KINDS:
            raise MadataError(f"observation must be one of {', '.join(OBSERVATION_KINDS)}, got {observation!r}")
        if not agents:
            raise MadataError("a replay needs at least one agent's dataset")
        lengths = [len(agent) for agent in agents]
        if min(lengths) == 0:
            raise MadataError(f"agent {lengths.index(0)}'s dataset has no transitions")
        self.n_agents, self.observation = len(agents), observation

        def flat(name: str) -> torch.Tensor:
            return torch.as_tensor(np.concatenate([np.asarray(getattr(a, name), dtype=np.float32) for a in agents]))

        key = "states" if observation == "state" else "observations"
        self.inputs, self.next_inputs = flat(key), flat("next_" + key)
        self.actions, self.rewards, self.dones = flat("actions"), flat("rewards"), flat("terminations")
        self.lengths = torch.tensor(lengths, dtype=torch.int64)
        self.offsets = torch.cumsum(self.lengths, 0) - self.lengths

    @classmethod
    def from_dataset(cls, dataset: Dataset, observation: str = "state") -> "PerAgentReplay":
        """B_i = dataset.agent(i) for every agent (a joint dataset gives each agent its own column)."""
        return cls([dataset.agent(i) for i in range(dataset.n_agents)], observation)

    def observation_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std of each agent's own inputs, (N, D) each; std 1 on constant dims."""
        means, stds = [], []
        for offset, length in zip(self.offsets.tolist(), self.lengths.tolist()):
            rows = self.inputs[offset:offset + length]
            means.append(rows.mean(dim=0))
            stds.append(rows.std(dim=0, unbiased=False))
        mean, std = torch.stack(means), torch.stack(stds)
        return mean, torch.where(std < 1e-6, torch.ones_like(std), std)

    def sample(self, batch_size: int, generator: torch.Generator, independent: bool = True) -> Batch:
        """A minibatch (N, B, ...); `independent` is accepted for the harness (rows are always per agent)."""
        if batch_size < 1:
            raise MadataError(f"batch size must be positive, got {batch_size}")
        uniforms = torch.rand((self.n_agents, batch_size), generator=generator, dtype=torch.float64)
        local = torch.minimum((uniforms * self.lengths[:, None]).long(), self.lengths[:, None] - 1)
        rows = self.offsets[:, None] + local
        actions, rewards = self.actions[rows], self.rewards[rows]
        # No SARSA fields: nothing in this track uses the behaviour's next action.
        return Batch(observations=self.inputs[rows], actions=actions, rewards=rewards,
                     next_observations=self.next_inputs[rows], dones=self.dones[rows],
                     next_actions=torch.zeros_like(actions), has_next_action=torch.zeros_like(rewards))


# -- the shared algorithm base --------------------------------------------------------
class DecentralizedAlgorithm(nn.Module):
    """N independent agents acting on s (or o_i); subclasses implement `policy` and `update`."""

    name = "decentralized"
    has_critic = True            # False for policies without a value estimate (behavior)
    needs_joint_batches = False

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
                raise MadataError(f"{self.name} agents observe the global state; evaluate them with "
                                  "baselines.diagnostics.DecentralizedEvaluator (it passes states)")
            states = torch.as_tensor(np.asarray(states, dtype=np.float32))
            return states.unsqueeze(0).expand(self.n_agents, -1, -1)
        return torch.as_tensor(np.asarray(observations, dtype=np.float32))

    # -- acting -------------------------------------------------------------------
    def policy(self, inputs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Actions (N, B, A) for standardised inputs (N, B, D)."""
        raise NotImplementedError

    @torch.no_grad()
    def act(self, observations: np.ndarray, states: np.ndarray | None = None,
            generator: torch.Generator | None = None) -> np.ndarray:
        """Actions (N, E, A) in [-1, 1]; `generator` drives G1's samples (None: the global stream)."""
        inputs = self.normalize(self.agent_inputs(observations, states))
        return self.policy(inputs, generator).numpy()

    # -- what the diagnostics read ---------------------------------------------------
    def q_values(self, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Q_i(s, a_i) of the critic that picks actions, for raw inputs (N, B, D): (N, B)."""
        raise NotImplementedError

    def state_values(self, inputs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """V_i(s) = Q_i(s, pi_i(s)) for raw inputs (N, B, D): (N, B)."""
        normalized = self.normalize(inputs)
        return self.q_values(inputs, self.policy(normalized, generator))

    # -- training -------------------------------------------------------------------
    def pretrain(self, replay: PerAgentReplay, generator: torch.Generator) -> dict[str, float]:
        """Work done once before the update loop (fitting generative models); default none."""
        return {}

    def update(self, batch: Batch) -> dict[str, float]:
        raise NotImplementedError

    def policy_state(self) -> dict[str, Any]:
        return {"model": self.state_dict()}

    def load_policy_state(self, state: dict[str, Any]) -> None:
        self.load_state_dict(state["model"])


def fit_generative_models(algorithm: DecentralizedAlgorithm, replay: PerAgentReplay, generator: torch.Generator,
                          updates: int) -> dict[str, float]:
    """Algorithm 1, line 4: fit the VAEs on B_i for `updates` minibatches; returns the last losses.

    `algorithm` provides `generative_loss(inputs, actions, next_inputs)` and `vae_optimizer`.
    """
    info: dict[str, float] = {}
    for _ in range(updates):
        batch = replay.sample(algorithm.config.batch_size, generator)
        loss, info = algorithm.generative_loss(algorithm.normalize(batch.observations), batch.actions,
                                               algorithm.normalize(batch.next_observations))
        algorithm.vae_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        algorithm.vae_optimizer.step()
    return info


# -- BCQ ------------------------------------------------------------------------------
@dataclass
class BCQConfig(DecentralizedConfig):
    critic_lr: float = 1e-3            # learning rate of Q (Table 8)
    perturbation_lr: float = 1e-4      # learning rate of xi (Table 8)
    vae_lr: float = 1e-4               # learning rate of G (Table 8)
    latent_dim: int = 10               # VAE hidden space (Table 8)
    phi: float = 0.05                  # perturbation range Phi (Table 8)
    n_actions: int = 10                # sampled actions n (Table 8)
    soft_update: float = 0.005         # target rate (BCQ's; Table 8 gives none)
    target_mix: float = 0.75           # BCQ: 0.75 min + 0.25 max of the twin target critics
    vae_updates: int = 10_000          # minibatches fitting the VAEs before Q/xi learning (Algorithm 1, line 4)
    perturb_generated: bool = True     # xi's objective on a ~ G1(s) (BCQ); False: on dataset actions (Eq. 2 as printed)

    def validate(self) -> None:
        super().validate()
        for name in ("critic_lr", "perturbation_lr", "vae_lr"):
            if getattr(self, name) <= 0:
                raise MadataError(f"{name} must be positive, got {getattr(self, name)}")
        if self.latent_dim < 1 or self.n_actions < 1:
            raise MadataError(f"latent_dim and n_actions must be positive, got {self.latent_dim} and {self.n_actions}")
        if not 0.0 <= self.phi <= 1.0:
            raise MadataError(f"phi must be in [0, 1] (actions live in [-1, 1]), got {self.phi}")
        if not 0.0 < self.soft_update <= 1.0:
            raise MadataError(f"soft_update must be in (0, 1], got {self.soft_update}")
        if not 0.0 <= self.target_mix <= 1.0:
            raise MadataError(f"target_mix must be in [0, 1], got {self.target_mix}")
        if self.vae_updates < 0:
            raise MadataError(f"vae_updates must be non-negative, got {self.vae_updates}")


class BCQ(DecentralizedAlgorithm):
    name = "bcq"

    def __init__(self, config: BCQConfig, spec: ScenarioSpec, generator: torch.Generator,
                 observation_statistics: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__(config, spec, generator, observation_statistics)
        n, d, a = self.n_agents, self.input_dim, self.act_dim
        pair_mask = self.pair_mask
        # Twin critics of N agents: members 0..N-1 are Q1, N..2N-1 are Q2.
        self.critic = StackedMLP(2 * n, d + a, 1, config.hidden, input_mask=pair_mask.repeat(2, 1))
        self.perturbation = StackedMLP(n, d + a, a, config.hidden, input_mask=pair_mask,
                                       output_mask=self.act_mask, output_activation="tanh")
        self.critic_target = make_target(self.critic)
        self.perturbation_target = make_target(self.perturbation)
        self.behavior_model = StackedConditionalVAE(n, d, a, config.latent_dim, config.hidden,
                                                    condition_mask=self.input_mask, target_mask=self.act_mask)  # G1
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        self.perturbation_optimizer = torch.optim.Adam(self.perturbation.parameters(), lr=config.perturbation_lr)
        self.vae_optimizer = torch.optim.Adam(self.generative_parameters(), lr=config.vae_lr)

    # -- generative models -------------------------------------------------------------
    def generative_parameters(self) -> list[nn.Parameter]:
        return list(self.behavior_model.parameters())

    def generative_loss(self, inputs: torch.Tensor, actions: torch.Tensor,
                        next_inputs: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss, recon, kl = self.behavior_model.loss(inputs, actions, self.generator)
        return loss.sum(), {"g1_loss": loss.mean().item(), "g1_recon": recon.mean().item(), "g1_kl": kl.mean().item()}

    def pretrain(self, replay: PerAgentReplay, generator: torch.Generator) -> dict[str, float]:
        return fit_generative_models(self, replay, generator, self.config.vae_updates)

    # -- networks -----------------------------------------------------------------------
    def perturb(self, network: nn.Module, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """a + xi(s, a), with xi in [-Phi, Phi] (actions are in [-1, 1], so max_action = 1)."""
        shift = self.config.phi * network(torch.cat([inputs, actions], dim=-1))
        return (actions + shift).clamp(-1.0, 1.0)

    def twin_q(self, network: nn.Module, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Both twins of every agent: (2, N, B)."""
        pair = torch.cat([inputs, actions], dim=-1)
        return network(pair.repeat(2, 1, 1)).view(2, self.n_agents, -1)

    def q1(self, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        pair = torch.cat([inputs, actions], dim=-1)
        return self.critic(pair, members=slice(0, self.n_agents)).squeeze(-1)

    def candidates(self, inputs: torch.Tensor, perturbation: nn.Module,
                   generator: torch.Generator | None) -> torch.Tensor:
        """n perturbed G1 samples per row, (N, B, n, A).

        Every network here sees (s, x) for n values of x per s, so each computes the state's
        part of its first layer once per row (StackedMLP.forward_candidates).
        """
        n, b, k = self.n_agents, inputs.shape[1], self.config.n_actions
        sampled = self.behavior_model.decode_candidates(inputs, k, generator=generator).view(n, b, k, -1)
        shift = self.config.phi * perturbation.forward_candidates(inputs, sampled).view(n, b, k, -1)
        return (sampled + shift).clamp(-1.0, 1.0)

    def policy(self, inputs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        n, b, k = self.n_agents, inputs.shape[1], self.config.n_actions
        candidates = self.candidates(inputs, self.perturbation, generator)
        best = self.critic.forward_candidates(inputs, candidates, members=slice(0, n)).view(n, b, k).argmax(dim=-1)
        index = best[:, :, None, None].expand(-1, -1, 1, self.act_dim)
        return candidates.gather(2, index).squeeze(2)

    def q_values(self, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.q1(self.normalize(inputs), actions)

    def mixed_q(self, network: nn.Module, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """BCQ's soft clipped double Q: mix * min + (1 - mix) * max over the twins, (N, B)."""
        return self.mix_twins(self.twin_q(network, inputs, actions))

    def mix_twins(self, q: torch.Tensor) -> torch.Tensor:
        """(2, ...) twin values -> mix * min + (1 - mix) * max over the twins."""
        mix = self.config.target_mix
        return mix * q.min(dim=0).values + (1.0 - mix) * q.max(dim=0).values

    @torch.no_grad()
    def next_state_value(self, next_inputs: torch.Tensor) -> torch.Tensor:
        """V*(s') = Q'(s', pi'(s')): best mixed target Q over n perturbed samples, (N, B)."""
        n, b, k = self.n_agents, next_inputs.shape[1], self.config.n_actions
        candidates = self.candidates(next_inputs, self.perturbation_target, self.generator)
        q = self.critic_target.forward_candidates(next_inputs.repeat(2, 1, 1), candidates.repeat(2, 1, 1, 1))
        return self.mix_twins(q.view(2, n, b, k)).max(dim=-1).values

    # -- the update ---------------------------------------------------------------------
    def sample_weights(self, batch: Batch, inputs: torch.Tensor, next_inputs: torch.Tensor,
                       next_value: torch.Tensor) -> tuple[torch.Tensor | None, dict[str, float]]:
        """Per-sample weights (N, B) of Eq. (1)-(2), mean 1 per agent; None means all ones (BCQ)."""
        return None, {}

    def update(self, batch: Batch) -> dict[str, float]:
        self.updates += 1
        inputs, next_inputs = self.normalize(batch.observations), self.normalize(batch.next_observations)
        with torch.no_grad():
            next_value = self.next_state_value(next_inputs)
            target = batch.rewards + self.config.gamma * (1.0 - batch.dones) * next_value
            weights, info = self.sample_weights(batch, inputs, next_inputs, next_value)

        # Critic, Eq. (1): sum over agents of the per-agent weighted mean squared TD error.
        q = self.twin_q(self.critic, inputs, batch.actions)                       # (2, N, B)
        squared = (q - target.unsqueeze(0)) ** 2
        if weights is not None:
            squared = squared * weights.unsqueeze(0)
        critic_loss = squared.mean(dim=-1).sum()
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()

        # Perturbation, Eq. (2): maximise the weighted Q1 of perturbed actions.
        if self.config.perturb_generated:
            with torch.no_grad():
                base = self.behavior_model.decode(inputs, generator=self.generator)
        else:
            base = batch.actions
        perturbed_q = self.q1(inputs, self.perturb(self.perturbation, inputs, base))      # (N, B)
        if weights is not None:
            perturbed_q = perturbed_q * weights
        perturbation_loss = -perturbed_q.mean(dim=-1).sum()
        self.perturbation_optimizer.zero_grad(set_to_none=True)
        perturbation_loss.backward()
        self.perturbation_optimizer.step()

        soft_update(self.critic_target, self.critic, self.config.soft_update)
        soft_update(self.perturbation_target, self.perturbation, self.config.soft_update)
        info.update(critic_loss=critic_loss.item() / (2 * self.n_agents),
                    perturbation_loss=perturbation_loss.item() / self.n_agents,
                    q_mean=q.mean().item())
        return info


DECENTRALIZED = True
Config, Algorithm = BCQConfig, BCQ
