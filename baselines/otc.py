"""OTC: online tuning of decentralized policies learned offline (Algorithm 1 of the OTC paper).

Protocol, per agent i (all agents at once, but each on its own data only):
  1. train the backbone (bcq | awac | mabcq) offline on B_i^0 = load(id).agent(i);
  2. for k = 1..K deployments:
     - the current joint policies act in the scenario for M environment steps; agent i's
       online dataset D_i^k holds (s, o_i, a_i, r_i, s', o_i', done) with its OWN action only;
     - B_i^k = B_i^(k-1) U D_i^k;
     - (otc sampling, k > 1) adapt alpha_i by Eq. 9;
     - L fine-tuning updates, each on a 128-transition batch chosen by the sampling variant;
     - evaluate the joint policy: the normalized score after deployment k.

Sampling variants (`sampling`):
  otc          minibatch B (512) of B_i^k and D (<= 2000) of D_i^k, best match + rank-based
               prioritization with distance `embedding` (d_e) or `value` (d_q), baselines/otc_sampling.py;
  uniform      128 uniformly from B_i^k (the paper's BCQ / AWAC rows: the merged data, Nair et al. 2020);
  online-only  128 uniformly from all online data collected so far (D_i^1 U ... U D_i^k);
  balanced     Balanced Replay: 128 from B (512) of B_i^k with probability proportional to the
               estimated density ratio d_online / d_offline of (s, a_i).

Accounting: a run records K, M, L, the online environment steps used (K * M) and the
score after every deployment (deployment 0 is the offline policy). Several variants can
run from ONE offline pre-training per seed (`run_otc` with several `variants`): every
variant starts from a copy of the same pre-trained agents and from the same tuning
random stream, so a variant's result does not depend on which others ran beside it.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from baselines.bcq import PerAgentReplay
from baselines.core.config import seed_everything
from baselines.core.replay import Batch
from baselines.core.vae import StackedConditionalVAE
from baselines.otc_sampling import (AdaptiveAlpha, DensityRatioEstimator, embedding_similarity,
                                    expected_value_ratio, rank_probabilities, sample_by_priority, value_similarity)
from madatasets.dataset import AgentDataset, Dataset, load
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioEnv, make

BACKBONES = ("bcq", "awac", "mabcq")
DISTANCES = ("embedding", "value")
SAMPLINGS = ("otc", "uniform", "online-only", "balanced")
# Default fine-tuning updates per deployment L (OTC Table 3).
DEFAULT_UPDATES = {"bcq": 4000, "mabcq": 4000, "awac": 2000}
# OTC Table 3 for the backbones under the `paper` preset (AWAC's Table 3 values are awac.py's defaults).
TABLE3 = {"bcq": ("critic_lr=0.0001", "perturbation_lr=0.0001", "batch_size=128", "hidden=64,64"),
          "mabcq": ("critic_lr=0.0001", "perturbation_lr=0.0001", "batch_size=128", "hidden=64,64"),
          "awac": ()}
ONLINE_STREAM, TUNING_STREAM, EMBEDDING_STREAM, BALANCED_STREAM = 0x07C1, 0x07C2, 0x07C3, 0x07C4


@dataclass
class OTCConfig:
    """Settings of the online-tuning protocol (the backbone has its own config)."""

    deployments: int = 10                  # K (Sec 4.1)
    online_steps: int | None = None        # M environment steps per deployment; None: 1% of |B_i^0| (Sec 4.1)
    updates_per_deployment: int | None = None   # L; None: 4000 for bcq/mabcq, 2000 for awac (Table 3)
    alpha: float = 1.0                     # initial alpha (Sec 4.3)
    adaptive_alpha: bool = True            # Eq. 9; False keeps alpha fixed
    offline_batch: int = 512               # |B| (Table 3)
    online_batch: int = 2000               # |D| (Table 3); all of D_i^k when it is smaller
    batch_size: int = 128                  # training batch (Table 3)
    embedding_dim: int = 10                # latent size of the conditional VAE of d_e (Table 3)
    embedding_hidden: tuple[int, ...] = (64, 64)
    embedding_lr: float = 1e-4
    embedding_updates: int = 5000          # minibatches fitting the embedding VAE on B_i^0 before tuning
    alpha_estimate_batches: int = 8        # minibatch pairs averaged into Dbar_i^k (Eq. 9)
    balanced_classifier_updates: int = 500  # density-ratio classifier steps after each deployment
    online_envs: int = 1                   # environments stepped in lockstep during a deployment
    tune_generative: bool = True           # bcq/mabcq: keep fitting G1 (and G2) on the training batches

    def validate(self) -> None:
        for name in ("deployments", "offline_batch", "online_batch", "batch_size", "embedding_dim", "online_envs",
                     "alpha_estimate_batches"):
            if getattr(self, name) < 1:
                raise MadataError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.online_steps is not None and self.online_steps < 1:
            raise MadataError(f"--online-steps must be at least 1, got {self.online_steps}")
        if self.updates_per_deployment is not None and self.updates_per_deployment < 0:
            raise MadataError(f"--updates-per-deployment must be non-negative, got {self.updates_per_deployment}")
        if self.alpha < 0:
            raise MadataError(f"--alpha must be non-negative, got {self.alpha}")
        if self.embedding_updates < 0 or self.balanced_classifier_updates < 0:
            raise MadataError("embedding_updates and balanced_classifier_updates must be non-negative")
        if self.embedding_lr <= 0:
            raise MadataError(f"embedding_lr must be positive, got {self.embedding_lr}")

    def resolved(self, backbone: str, offline_size: int) -> "OTCConfig":
        """A copy with M and L filled in for this backbone and dataset."""
        online = self.online_steps if self.online_steps is not None else max(1, round(0.01 * offline_size))
        updates = self.updates_per_deployment if self.updates_per_deployment is not None else DEFAULT_UPDATES[backbone]
        return OTCConfig(**{**asdict(self), "online_steps": online, "updates_per_deployment": updates})


@dataclass(frozen=True)
class Variant:
    """One sampling strategy; `distance` only for sampling == "otc"."""

    sampling: str
    distance: str | None = None

    def __post_init__(self) -> None:
        if self.sampling not in SAMPLINGS:
            raise MadataError(f"unknown --sampling {self.sampling!r}; valid: {', '.join(SAMPLINGS)}")
        if self.sampling == "otc" and self.distance not in DISTANCES:
            raise MadataError(f"--distance must be one of {', '.join(DISTANCES)}, got {self.distance!r}")

    @property
    def name(self) -> str:
        return self.distance if self.sampling == "otc" else self.sampling


def variants(samplings: Sequence[str], distances: Sequence[str]) -> list[Variant]:
    """Every requested variant: otc once per distance, every other sampling once."""
    result: list[Variant] = []
    for sampling in dict.fromkeys(samplings):
        if sampling == "otc":
            result += [Variant("otc", distance) for distance in dict.fromkeys(distances)]
        else:
            result.append(Variant(sampling))
    if not result:
        raise MadataError(f"no sampling variant requested; valid --sampling: {', '.join(SAMPLINGS)}")
    return result


@contextlib.contextmanager
def seeded_initialisation(seed: int, stream: int) -> Iterator[None]:
    """Initialise networks from their own stream, leaving the global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(np.random.SeedSequence([stream, seed]).generate_state(1)[0]))
        yield


def online_reset_seeds(seed: int) -> Iterator[int]:
    """Reset seeds of the online episodes, in order (the same sequence for every variant of a seed)."""
    episode = 0
    while True:
        yield int(np.random.SeedSequence([ONLINE_STREAM, seed, episode]).generate_state(1)[0] & 0x7FFFFFFF)
        episode += 1


def stream_generator(seed: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([stream, seed]).generate_state(1)[0]))


# -- online data -------------------------------------------------------------------------
def agent_dataset(index: int, columns: dict[str, np.ndarray], episode_ends: np.ndarray) -> AgentDataset:
    """Agent `index`'s own view of recorded joint steps: its observation, action and reward only."""
    steps = len(columns["states"])
    return AgentDataset(
        agent_index=index, observations=columns["observations"][:, index].copy(),
        actions=columns["actions"][:, index].copy(), rewards=columns["rewards"][:, index].copy(),
        next_observations=columns["next_observations"][:, index].copy(), states=columns["states"].copy(),
        next_states=columns["next_states"].copy(), terminations=columns["terminations"].copy(),
        truncations=columns["truncations"].copy(), behavior_ids=np.full(steps, -1, dtype=np.int16),
        episode_ends=episode_ends.copy())


JointActor = Callable[[np.ndarray, np.ndarray], np.ndarray]   # observations (N, E, O), states (E, S) -> (N, E, A)


def collect_online(envs: Sequence[ScenarioEnv], act: JointActor, steps: int, seeds: Iterator[int],
                   n_agents: int) -> tuple[list[AgentDataset], dict[str, Any]]:
    """One deployment: exactly `steps` environment steps; returns D_i for every agent i and episode stats.

    Every step, all agents of all live environments act in one batched call. A
    deployment starts from fresh resets; an episode cut by the step budget ends as
    a truncation (it bootstraps). Rows are ordered episode by episode.
    """
    resets = [env.reset_arrays(next(seeds)) for env in envs]
    observations = np.stack([obs for obs, _ in resets])           # (E, N, O)
    states = np.stack([state for _, state in resets])             # (E, S)
    episodes: list[dict[str, list]] = []
    current = [_empty_episode() for _ in envs]
    returns = np.zeros(len(envs))
    finished_returns: list[float] = []
    taken = 0
    while taken < steps:
        live = np.arange(min(len(envs), steps - taken))
        actions = act(observations[live].transpose(1, 0, 2), states[live])         # (N, E, A)
        for column, index in enumerate(live):
            obs, state, rewards, terminated, truncated = envs[index].step_arrays(actions[:, column])
            record = current[index]
            record["observations"].append(observations[index].copy())
            record["states"].append(states[index].copy())
            record["actions"].append(np.asarray(actions[:, column], dtype=np.float32))
            record["rewards"].append(np.asarray(rewards, dtype=np.float32))
            record["next_observations"].append(obs.copy())
            record["next_states"].append(state.copy())
            record["terminations"].append(float(terminated))
            record["truncations"].append(float(truncated))
            returns[index] += float(np.mean(rewards, dtype=np.float64))
            taken += 1
            if terminated or truncated:
                episodes.append(record)
                finished_returns.append(returns[index])
                returns[index] = 0.0
                current[index] = _empty_episode()
                obs, state = envs[index].reset_arrays(next(seeds))
            observations[index], states[index] = obs, state
    for record in current:
        if record["states"]:
            record["truncations"][-1] = 1.0       # cut by the deployment's step budget
            episodes.append(record)
    columns = {key: np.concatenate([np.asarray(e[key], dtype=np.float32) for e in episodes])
               for key in episodes[0]}
    episode_ends = np.cumsum([len(e["states"]) for e in episodes]).astype(np.int64)
    datasets = [agent_dataset(i, columns, episode_ends) for i in range(n_agents)]
    info = {"episodes_finished": len(finished_returns),
            "mean_finished_return": float(np.mean(finished_returns)) if finished_returns else None}
    return datasets, info


def _empty_episode() -> dict[str, list]:
    return {key: [] for key in ("observations", "states", "actions", "rewards", "next_observations", "next_states",
                                "terminations", "truncations")}


def merge(first: AgentDataset, second: AgentDataset) -> AgentDataset:
    """B_i^k = B_i^(k-1) U D_i^k (agent i's rows only)."""
    if first.agent_index != second.agent_index:
        raise MadataError(f"cannot merge agent {first.agent_index}'s data with agent {second.agent_index}'s")
    joined = {name: np.concatenate([getattr(first, name), getattr(second, name)])
              for name in ("observations", "actions", "rewards", "next_observations", "states", "next_states",
                           "terminations", "truncations", "behavior_ids")}
    ends = np.concatenate([first.episode_ends, second.episode_ends + len(first)])
    return AgentDataset(agent_index=first.agent_index, episode_ends=ends, **joined)


def take(batch: Batch, rows: torch.Tensor) -> Batch:
    """The rows (N, K) of every agent's minibatch (N, B, ...)."""
    def pick(tensor: torch.Tensor) -> torch.Tensor:
        index = rows if tensor.dim() == 2 else rows.unsqueeze(-1).expand(-1, -1, tensor.shape[-1])
        return tensor.gather(1, index)
    return Batch(observations=pick(batch.observations), actions=pick(batch.actions), rewards=pick(batch.rewards),
                 next_observations=pick(batch.next_observations), dones=pick(batch.dones),
                 next_actions=pick(batch.next_actions), has_next_action=pick(batch.has_next_action))


def whole(replay: PerAgentReplay) -> Batch | None:
    """All rows of a replay whose agents hold equally many, as one batch (N, T, ...); None otherwise."""
    if int(replay.lengths.min()) != int(replay.lengths.max()):
        return None
    rows = replay.offsets[:, None] + torch.arange(int(replay.lengths[0]))
    actions = replay.actions[rows]
    return Batch(observations=replay.inputs[rows], actions=actions, rewards=replay.rewards[rows],
                 next_observations=replay.next_inputs[rows], dones=replay.dones[rows],
                 next_actions=torch.zeros_like(actions), has_next_action=torch.zeros_like(replay.rewards[rows]))


# -- the tuner: one variant's fine-tuning of one pre-trained backbone ----------------------------
class OnlineTuner:
    """Holds B_i^k, D_i^k, alpha and the models OTC adds; `tune` runs the L updates of one deployment."""

    def __init__(self, algorithm: Any, offline: list[AgentDataset], config: OTCConfig, variant: Variant,
                 generator: torch.Generator, embedding_model: StackedConditionalVAE | None = None,
                 seed: int = 0):
        self.algorithm, self.config, self.variant, self.generator = algorithm, config, variant, generator
        self.observation = algorithm.config.observation
        self.offline = offline
        self.merged = list(offline)
        self.online_all: list[AgentDataset] | None = None
        self.merged_replay = PerAgentReplay(self.merged, self.observation)
        self.current: PerAgentReplay | None = None      # D_i^k
        self.online_replay: PerAgentReplay | None = None
        self.alpha = AdaptiveAlpha(algorithm.n_agents, config.alpha, fixed=not config.adaptive_alpha)
        self.embedding_model = embedding_model
        if embedding_model is not None:
            self.embedding_optimizer = torch.optim.Adam(embedding_model.parameters(), lr=config.embedding_lr)
        self.ratio_model: DensityRatioEstimator | None = None
        if variant.sampling == "balanced":
            with seeded_initialisation(seed, BALANCED_STREAM):
                self.ratio_model = DensityRatioEstimator(algorithm.n_agents, algorithm.input_dim, algorithm.act_dim,
                                                         (64, 64), algorithm.input_mask, algorithm.act_mask)
            self.offline_replay = PerAgentReplay(offline, self.observation)

    # -- data ---------------------------------------------------------------------------
    def add_deployment(self, online: list[AgentDataset]) -> dict[str, Any]:
        """D_i^k arrives: merge it into B_i^k, then adapt alpha (otc) or refit the ratio model (balanced)."""
        self.current = PerAgentReplay(online, self.observation)
        self.merged = [merge(b, d) for b, d in zip(self.merged, online)]
        self.merged_replay = PerAgentReplay(self.merged, self.observation)
        self.online_all = online if self.online_all is None else \
            [merge(a, d) for a, d in zip(self.online_all, online)]
        self.online_replay = PerAgentReplay(self.online_all, self.observation)
        info: dict[str, Any] = {}
        if self.variant.sampling == "otc":
            mean = torch.stack([self.similarity(self.merged_replay.sample(self.config.offline_batch, self.generator))
                                .mean(dim=-1) for _ in range(self.config.alpha_estimate_batches)]).mean(dim=0)
            info["alpha"] = self.alpha.step(mean).tolist()
            info["mean_similarity"] = mean.tolist()
        if self.ratio_model is not None:
            loss = None
            for _ in range(self.config.balanced_classifier_updates):
                on = self.online_replay.sample(256, self.generator)
                off = self.offline_replay.sample(256, self.generator)
                loss = self.ratio_model.train_step((self.algorithm.normalize(on.observations), on.actions),
                                                   (self.algorithm.normalize(off.observations), off.actions))
            info["ratio_classifier_loss"] = loss
        return info

    def online_minibatch(self) -> Batch:
        """D: all of D_i^k when it has at most |D| rows (per agent), else |D| uniform rows."""
        assert self.current is not None
        if int(self.current.lengths.max()) <= self.config.online_batch:
            everything = whole(self.current)
            if everything is not None:
                return everything
        return self.current.sample(self.config.online_batch, self.generator)

    # -- Eq. 2, 5-7 ------------------------------------------------------------------------
    @torch.no_grad()
    def similarity(self, offline: Batch) -> torch.Tensor:
        """Transition similarity (N, B) of every row of B to its best match in D (smaller: more similar)."""
        online = self.online_minibatch()
        algorithm = self.algorithm
        if self.variant.distance == "embedding":
            assert self.embedding_model is not None
            return embedding_similarity(self.embedding_model, self._triple(offline), self._triple(online))
        q_offline = algorithm.q_values(offline.observations, offline.actions)
        q_online = algorithm.q_values(online.observations, online.actions)
        ratio_offline = self._value_ratio(offline, q_offline)
        ratio_online = self._value_ratio(online, q_online)
        return value_similarity(q_offline, ratio_offline, q_online, ratio_online)

    def _triple(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        normalize = self.algorithm.normalize
        return normalize(batch.observations), batch.actions, normalize(batch.next_observations)

    def _value_ratio(self, batch: Batch, q_values: torch.Tensor) -> torch.Tensor:
        next_values = (1.0 - batch.dones) * self.algorithm.state_values(batch.next_observations, self.generator)
        return expected_value_ratio(next_values, q_values, batch.rewards, self.algorithm.config.gamma)

    # -- one update -------------------------------------------------------------------------
    def training_batch(self) -> tuple[Batch, Batch | None]:
        """The 128-row batch of this update and, for otc-embedding, the minibatch B the VAE also trains on."""
        config, sampling = self.config, self.variant.sampling
        if sampling == "uniform":
            return self.merged_replay.sample(config.batch_size, self.generator), None
        if sampling == "online-only":
            assert self.online_replay is not None
            return self.online_replay.sample(config.batch_size, self.generator), None
        offline = self.merged_replay.sample(config.offline_batch, self.generator)
        if sampling == "balanced":
            assert self.ratio_model is not None
            probabilities = self.ratio_model.priorities(self.algorithm.normalize(offline.observations),
                                                        offline.actions)
        else:
            probabilities = rank_probabilities(self.similarity(offline), self.alpha.alpha.float())
        rows = sample_by_priority(probabilities, config.batch_size, self.generator)
        return take(offline, rows), offline if self.embedding_model is not None else None

    def tune(self, updates: int) -> dict[str, float]:
        """L fine-tuning updates (Algorithm 1, lines 10-17); returns the last losses."""
        losses: dict[str, float] = {}
        algorithm = self.algorithm
        refit_generative = self.config.tune_generative and hasattr(algorithm, "generative_loss")
        for _ in range(updates):
            batch, embedding_batch = self.training_batch()
            losses = algorithm.update(batch)
            if refit_generative:
                loss, info = algorithm.generative_loss(algorithm.normalize(batch.observations), batch.actions,
                                                       algorithm.normalize(batch.next_observations))
                algorithm.vae_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                algorithm.vae_optimizer.step()
                losses.update(info)
            if embedding_batch is not None:
                losses["embedding_loss"] = self.fit_embedding(embedding_batch)
        return losses

    def fit_embedding(self, batch: Batch) -> float:
        assert self.embedding_model is not None
        inputs, actions, next_inputs = self._triple(batch)
        loss, _, _ = self.embedding_model.loss(torch.cat([inputs, next_inputs], dim=-1), actions, self.generator)
        self.embedding_optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.embedding_optimizer.step()
        return loss.mean().item()


def fit_embedding_model(algorithm: Any, replay: PerAgentReplay, config: OTCConfig, seed: int) -> tuple[
        StackedConditionalVAE, float | None]:
    """G_i = {E(mu, sigma | s, a_i, s'), D(a_i | s, s', z)} of Sec 3.5, fitted on B_i^0 (own streams)."""
    with seeded_initialisation(seed, EMBEDDING_STREAM):
        model = StackedConditionalVAE(algorithm.n_agents, 2 * algorithm.input_dim, algorithm.act_dim,
                                      config.embedding_dim, config.embedding_hidden,
                                      condition_mask=algorithm.input_mask.repeat(1, 2),
                                      target_mask=algorithm.act_mask)
    generator = stream_generator(seed, EMBEDDING_STREAM)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.embedding_lr)
    last = None
    for _ in range(config.embedding_updates):
        batch = replay.sample(config.offline_batch, generator)
        condition = torch.cat([algorithm.normalize(batch.observations), algorithm.normalize(batch.next_observations)],
                              dim=-1)
        loss, _, _ = model.loss(condition, batch.actions, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
        last = loss.mean().item()
    return model, last


# -- the whole protocol for one (dataset, backbone, seed) -------------------------------------
@dataclass
class OTCRunSpec:
    """One OTC run: a dataset, a backbone, a seed, and the variants tuned from the same offline policies."""

    dataset_id: str
    backbone: str = "bcq"
    variants: tuple[Variant, ...] = (Variant("otc", "embedding"),)
    seed: int = 0
    steps: int = 10_000                    # offline pre-training updates
    eval_episodes: int = 32
    preset: str = "paper"
    overrides: tuple[str, ...] = ()        # backbone hyperparameters (--set)
    otc: OTCConfig = field(default_factory=OTCConfig)
    out_dir: str = "results"
    store: str | None = None
    threads: int = 1
    command: str = ""
    log: Callable[[str], None] | None = None


def variant_label(spec: OTCRunSpec, config: OTCConfig, variant: Variant) -> str:
    """e.g. otc[bcq,embedding,K10,M1000,L4000] or otc[awac,uniform,K5,M1000,L500,set=...]."""
    parts = [spec.backbone, variant.name]
    if variant.sampling == "otc":
        if not config.adaptive_alpha:
            parts.append("fixed-alpha")
        if config.alpha != 1.0:
            parts.append(f"alpha={config.alpha:g}")
    parts += [f"K{config.deployments}", f"M{config.online_steps}", f"L{config.updates_per_deployment}"]
    if spec.preset != "paper":
        parts.append(spec.preset)
    parts += sorted(spec.overrides)
    return "otc[" + ",".join(parts) + "]"


def check_spec(spec: OTCRunSpec) -> None:
    if spec.backbone not in BACKBONES:
        raise MadataError(f"unknown --backbone {spec.backbone!r}; valid: {', '.join(BACKBONES)}")
    if spec.steps < 1:
        raise MadataError(f"--steps (offline pre-training updates) must be positive, got {spec.steps}")
    if spec.eval_episodes < 1:
        raise MadataError(f"--eval-episodes must be at least 1, got {spec.eval_episodes}")
    if not spec.variants:
        raise MadataError("no sampling variant requested")
    spec.otc.validate()


def backbone_config(spec: OTCRunSpec) -> tuple[Any, list[str]]:
    from baselines.bench import build_config
    table3 = TABLE3[spec.backbone] if spec.preset == "paper" else ()
    return build_config(spec.backbone, spec.dataset_id, spec.preset, "decentralized", (*table3, *spec.overrides))


def run_otc(spec: OTCRunSpec) -> list[dict[str, Any]]:
    """Pre-train offline once, then run every variant's K deployments; writes one results file per variant."""
    from baselines.algorithms import algorithm_module
    from baselines.bench import (RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, _normalized, machine_info,
                                 run_directory)
    from baselines.diagnostics import DecentralizedEvaluator
    from madatasets import __version__ as madata_version
    from madatasets.scenarios import get_spec
    from madatasets.store import Store

    check_spec(spec)
    log = spec.log or (lambda message: None)
    torch.set_num_threads(spec.threads)
    started = time.perf_counter()
    config, notes = backbone_config(spec)
    store = Store(spec.store)
    if not store.exists:
        raise MadataError(f"no madata store at {store.root}; collect datasets first or pass --store")
    dataset: Dataset = load(spec.dataset_id, store)
    offline = [dataset.agent(i) for i in range(dataset.n_agents)]
    otc = spec.otc.resolved(spec.backbone, min(len(agent) for agent in offline))
    scenario = dataset.spec.name

    # 1. offline pre-training on B_i^0 (shared by every variant)
    generator = seed_everything(spec.seed)
    replay = PerAgentReplay(offline, config.observation)
    algorithm = algorithm_module(spec.backbone).Algorithm(config, dataset.spec, generator,
                                                          replay.observation_statistics())
    pretrain_info = algorithm.pretrain(replay, generator)
    offline_losses: dict[str, float] = {}
    for _ in range(spec.steps):
        offline_losses = algorithm.update(replay.sample(config.batch_size, generator))
    embedding_model, embedding_loss = None, None
    if any(v.distance == "embedding" for v in spec.variants):
        embedding_model, embedding_loss = fit_embedding_model(algorithm, replay, otc, spec.seed)
    pretrain_seconds = time.perf_counter() - started
    log(f"pre-trained {spec.backbone} on {spec.dataset_id} seed {spec.seed} in {pretrain_seconds:.0f}s")

    evaluator = DecentralizedEvaluator.for_dataset(dataset, config, spec.eval_episodes, spec.seed)
    references = dataset.card.get("reference_scores", {})   # the dataset's own, as made

    def normalized(dataset_id: str, mean: float) -> float | None:
        return _normalized(references, mean)
    offline_point = _evaluate(evaluator, algorithm, spec.dataset_id, normalized)
    envs = [make(scenario) for _ in range(otc.online_envs)]
    results = []
    try:
        for variant in spec.variants:
            results.append(_run_variant(spec, otc, variant, algorithm, embedding_model, offline, evaluator, envs,
                                        offline_point, dict(offline_losses), normalized, log))
    finally:
        for env in envs:
            env.close()
        evaluator.close()

    written = []
    for variant, (curve, deployments, tuned, seconds) in zip(spec.variants, results):
        label = variant_label(spec, otc, variant)
        directory = run_directory(spec.out_dir, spec.dataset_id, label)
        directory.mkdir(parents=True, exist_ok=True)
        final = curve[-1]
        checkpoint_path = directory / f"seed_{spec.seed}.pt"
        from baselines.bench import CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION
        total_updates = spec.steps + otc.deployments * otc.updates_per_deployment
        torch.save({"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_FORMAT_VERSION,
                    "algorithm": spec.backbone, "config": config.to_dict(), "dataset_id": spec.dataset_id,
                    "scenario": scenario, "scenario_version": dataset.spec.version, "seed": spec.seed,
                    "updates": total_updates, "policy": tuned.policy_state()}, checkpoint_path)
        result = {
            "schema": RESULTS_SCHEMA, "schema_version": RESULTS_SCHEMA_VERSION,
            "label": label, "algorithm": "otc", "backbone": spec.backbone, "critic": "decentralized",
            "preset": spec.preset, "overrides": list(spec.overrides), "config": config.to_dict(),
            "preset_notes": notes,
            "dataset": {"id": spec.dataset_id, "scenario": scenario, "scenario_version": dataset.spec.version,
                        "quality": dataset.card["quality"], "total_steps": dataset.total_steps,
                        "checksums": dataset.verified_checksums or {},
                        "package_versions": dataset.card.get("package_versions", {})},
            "seed": spec.seed, "updates": total_updates, "eval_every": otc.updates_per_deployment,
            "eval_episodes": spec.eval_episodes, "reference_scores": references,
            "normalized_available": {"random", "expert"} <= references.keys(),
            "curve": curve,
            "final": {key: final[key] for key in ("update", "mean_return", "std_return", "normalized", "returns")},
            "diverged_at": next((p["update"] for p in curve if not all(np.isfinite(v) for v in p["losses"].values())),
                                None),
            "pretrain": pretrain_info,
            "otc": {"sampling": variant.sampling, "distance": variant.distance, "K": otc.deployments,
                    "M": otc.online_steps, "L": otc.updates_per_deployment,
                    "online_steps_used": sum(d["online_steps"] for d in deployments),
                    "offline_pretraining_updates": spec.steps, "offline_size": [len(a) for a in offline],
                    "normalized_after_deployment": [p["normalized"] for p in curve],
                    "return_after_deployment": [p["mean_return"] for p in curve],
                    "deployments": deployments,
                    "config": {**asdict(otc), "embedding_hidden": list(otc.embedding_hidden)},
                    "embedding_pretrain_loss": embedding_loss if variant.distance == "embedding" else None},
            "wall_time_s": pretrain_seconds + seconds,
            "profile": {"pretrain_s": pretrain_seconds, "tuning_s": seconds},
            "checkpoint": checkpoint_path.name,
            "versions": {"madata": madata_version, "torch": torch.__version__, "numpy": np.__version__,
                         **get_spec(scenario).package_versions()},
            "machine": machine_info(spec.threads), "command": spec.command,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        path = directory / f"seed_{spec.seed}.json"
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(result, indent=1) + "\n")
        os.replace(temporary, path)
        result["path"] = str(path)
        written.append(result)
    return written


def _evaluate(evaluator: Any, algorithm: Any, dataset_id: str, normalized: Callable) -> dict[str, Any]:
    returns = evaluator(algorithm.act)
    mean = float(returns.mean())
    return {"mean_return": mean, "std_return": float(returns.std()), "normalized": normalized(dataset_id, mean),
            "returns": returns.tolist()}


def _run_variant(spec: OTCRunSpec, otc: OTCConfig, variant: Variant, pretrained: Any,
                 embedding_model: StackedConditionalVAE | None, offline: list[AgentDataset], evaluator: Any,
                 envs: list[ScenarioEnv], offline_point: dict[str, Any], offline_losses: dict[str, float],
                 normalized: Callable, log: Callable[[str], None]) -> tuple[list, list, Any, float]:
    """K deployments of one variant from a copy of the pre-trained agents; returns the curve and records."""
    tick = time.perf_counter()
    algorithm = copy.deepcopy(pretrained)
    generator = stream_generator(spec.seed, TUNING_STREAM)
    algorithm.generator = generator
    tuner = OnlineTuner(algorithm, offline, otc, variant, generator,
                        copy.deepcopy(embedding_model) if variant.distance == "embedding" else None, spec.seed)
    acting = stream_generator(spec.seed, ONLINE_STREAM)
    reset_seeds = online_reset_seeds(spec.seed)
    explore = getattr(algorithm, "exploration_policy", algorithm.policy)

    @torch.no_grad()
    def act(observations: np.ndarray, states: np.ndarray) -> np.ndarray:
        return explore(algorithm.normalize(algorithm.agent_inputs(observations, states)), acting).numpy()

    curve = [{"update": spec.steps, "deployment": 0, "online_steps": 0, "losses": offline_losses,
              **offline_point}]
    deployments: list[dict[str, Any]] = []
    used = 0
    for k in range(1, otc.deployments + 1):
        online, rollout_info = collect_online(envs, act, otc.online_steps, reset_seeds, algorithm.n_agents)
        used += len(online[0])
        info = tuner.add_deployment(online)
        losses = tuner.tune(otc.updates_per_deployment)
        point = _evaluate(evaluator, algorithm, spec.dataset_id, normalized)
        curve.append({"update": spec.steps + k * otc.updates_per_deployment, "deployment": k, "online_steps": used,
                      "losses": losses, **point})
        deployments.append({"deployment": k, "online_steps": len(online[0]), **rollout_info, **info})
        score = point["normalized"] if point["normalized"] is not None else point["mean_return"]
        log(f"  {variant.name} deployment {k}/{otc.deployments}: score {score:.2f}"
            + (f", alpha {[round(a, 3) for a in info['alpha']]}" if "alpha" in info else ""))
    return curve, deployments, algorithm, time.perf_counter() - tick


# -- `madata bench otc` ------------------------------------------------------------------------
def otc_options(command: Callable) -> Callable:
    """The OTC options of `madata bench` (they apply to `madata bench otc` only)."""
    import click
    options = [
        click.option("--backbone", type=click.Choice(BACKBONES), default=None,
                     help="otc: offline algorithm tuned online [default: bcq]."),
        click.option("--distance", "distances", type=click.Choice(DISTANCES), multiple=True,
                     help="otc: transition distance of --sampling otc, embedding (d_e) or value (d_q); "
                          "repeat for both [default: embedding]."),
        click.option("--sampling", "samplings", type=click.Choice(SAMPLINGS), multiple=True,
                     help="otc: sampling of the fine-tuning batches; repeat to tune several variants from "
                          "one offline pre-training per seed [default: otc]."),
        click.option("--deployments", type=click.IntRange(min=1), default=None,
                     help="otc: number of deployments K [default: 10]."),
        click.option("--online-steps", type=click.IntRange(min=1), default=None,
                     help="otc: environment steps M per deployment [default: 1% of the agent's dataset]."),
        click.option("--updates-per-deployment", type=click.IntRange(min=0), default=None,
                     help="otc: fine-tuning updates L per deployment [default: bcq/mabcq 4000, awac 2000]."),
        click.option("--alpha", type=click.FloatRange(min=0.0), default=None,
                     help="otc: initial rank-prioritization exponent alpha [default: 1.0]."),
        click.option("--fixed-alpha", is_flag=True, default=None, help="otc: keep alpha fixed (no Eq. 9)."),
        click.option("--otc-set", "otc_overrides", multiple=True, metavar="KEY=VALUE",
                     help="otc: override an OTCConfig field, e.g. --otc-set embedding_updates=2000."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


OTC_ONLY = ("backbone", "distances", "samplings", "deployments", "online_steps", "updates_per_deployment", "alpha",
            "fixed_alpha", "otc_overrides")


def bench_otc(algorithm: str, dataset_ids: Sequence[str], seeds: int, first_seed: int, steps: int,
              eval_episodes: int, preset: str, critic: str, overrides: Sequence[str], out_dir: str, threads: int,
              store: str | None, command: str, options: dict[str, Any],
              echo: Callable[[str], None] = print, quiet: bool = False) -> list[dict[str, Any]]:
    """What `madata bench otc` runs; for any other algorithm it only checks that no OTC option was given."""
    given = [name for name in OTC_ONLY if options.get(name) not in (None, (), False)]
    if algorithm != "otc":
        if given:
            flags = {"distances": "distance", "samplings": "sampling", "otc_overrides": "otc-set"}
            flag = flags.get(given[0], given[0])
            raise MadataError(f"--{flag.replace('_', '-')} applies to `madata bench otc` only")
        return []
    if critic != "decentralized":
        raise MadataError("otc tunes decentralized agents; valid --critic: decentralized")
    from baselines.core.config import parse_overrides, with_values
    config = OTCConfig()
    config = with_values(config, parse_overrides(config, list(options.get("otc_overrides") or ())))
    values: dict[str, Any] = {}
    for name in ("deployments", "online_steps", "updates_per_deployment", "alpha"):
        if options.get(name) is not None:
            values[name] = options[name]
    if options.get("fixed_alpha"):
        values["adaptive_alpha"] = False
    config = with_values(config, values)
    config.validate()
    chosen = variants(options.get("samplings") or ("otc",), options.get("distances") or ("embedding",))
    written = []
    for dataset_id in dataset_ids:
        for seed in range(first_seed, first_seed + seeds):
            spec = OTCRunSpec(dataset_id=dataset_id, backbone=options.get("backbone") or "bcq",
                              variants=tuple(chosen), seed=seed, steps=steps, eval_episodes=eval_episodes,
                              preset=preset, overrides=tuple(overrides), otc=config, out_dir=out_dir, store=store,
                              threads=threads, command=command, log=None if quiet else echo)
            for result in run_otc(spec):
                final, info = result["final"], result["otc"]
                normalized = "n/a (no reference scores)" if final["normalized"] is None else \
                    f"{final['normalized']:.1f}"
                echo(f"{result['label']} {dataset_id} seed {seed}: return {final['mean_return']:.3f} +- "
                     f"{final['std_return']:.3f}, normalized {normalized}, online steps {info['online_steps_used']} "
                     f"-> {result['path']}")
                written.append(result)
    return written


# -- learning curves over deployments (`python -m baselines.otc DIR...`) ---------------------------
def deployment_table(results: list[dict[str, Any]]) -> str:
    """Markdown: per dataset and OTC configuration, the score after each deployment (mean ± std over seeds).

    The score is the normalized score where the scenario has both reference scores, else the raw return.
    """
    from collections import defaultdict
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        if result.get("algorithm") == "otc":
            groups[(result["dataset"]["id"], result["label"])].append(result)
    if not groups:
        raise MadataError("no OTC results files among the given directories; run `madata bench otc` first")
    width = max(len(runs[0]["curve"]) for runs in groups.values())
    header = "| dataset | configuration | seeds | score | " + " | ".join(f"k={k}" for k in range(width)) + " |"
    lines = [header, "|" + "---|" * (width + 4)]
    for (dataset_id, label), runs in sorted(groups.items()):
        normalized = all(p["normalized"] is not None for run in runs for p in run["curve"])
        key = "normalized" if normalized else "mean_return"
        length = min(len(run["curve"]) for run in runs)
        values = np.array([[p[key] for p in run["curve"][:length]] for run in runs])
        cells = [f"{m:.1f} ± {s:.1f}" for m, s in zip(values.mean(axis=0), values.std(axis=0))]
        cells += [""] * (width - length)
        lines.append(f"| {dataset_id} | {label} | {len(runs)} | {'normalized' if normalized else 'return'} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    from baselines.report import load_results
    try:
        print(deployment_table(load_results(sys.argv[1:] or ["results"])))
    except MadataError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
