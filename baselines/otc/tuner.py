"""One variant's fine-tuning of a pre-trained per-agent backbone (OTC Algorithm 1, lines 6-17)."""

from __future__ import annotations

from typing import Any

import torch

from baselines.core.decentralized import DecentralizedAlgorithm
from baselines.core.replay import Batch, PerAgentReplay
from baselines.core.vae import StackedConditionalVAE
from baselines.otc.config import BALANCED_STREAM, EMBEDDING_STREAM, OTCConfig, Variant, seeded_initialisation, \
    stream_generator
from baselines.otc.online import merge, take, whole
from baselines.otc.sampling import (AdaptiveAlpha, DensityRatioEstimator, embedding_similarity,
                                    expected_value_ratio, rank_probabilities, sample_by_priority, value_similarity)
from madatasets.dataset import AgentDataset


class OnlineTuner:
    """Holds B_i^k, D_i^k, alpha and the models OTC adds; `tune` runs the L updates of one deployment."""

    def __init__(self, algorithm: DecentralizedAlgorithm, offline: list[AgentDataset], config: OTCConfig,
                 variant: Variant, generator: torch.Generator,
                 embedding_model: StackedConditionalVAE | None = None, seed: int = 0):
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
        for _ in range(updates):
            batch, embedding_batch = self.training_batch()
            losses = algorithm.update(batch)
            if self.config.tune_generative:
                losses.update(algorithm.generative_step(batch) or {})
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


def fit_embedding_model(algorithm: DecentralizedAlgorithm, replay: PerAgentReplay, config: OTCConfig,
                        seed: int) -> tuple[StackedConditionalVAE, float | None]:
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
