"""Discrete OMAR and discrete MABCQ: losses pinned by hand on a tiny batch, the categorical search,
the two MABCQ weights, and masked acting (no simulator needed: smacv1-3m's shapes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from baselines.algorithms import DISCRETE_ALGORITHMS, algorithm_module
from baselines.configure import build_config
from baselines.core.categorical_search import search_categorical
from baselines.core.discrete import DiscreteBatch, masked
from baselines.mabcq_discrete import log_transition_weight
from baselines.omar_discrete import gumbel_softmax_hard
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SPEC = get_spec("smacv1-3m")


def tiny_batch(seed: int = 0, b: int = 4) -> DiscreteBatch:
    g = torch.Generator().manual_seed(seed)
    n, a = SPEC.n_agents, SPEC.act_dim
    legal = torch.rand(b, n, a, generator=g) < 0.5
    legal[..., 1] = True                                   # stop: always legal for a live unit
    actions = torch.stack([torch.multinomial(row.float(), 1, generator=g) for row in legal.view(-1, a)]).view(b, n)
    next_legal = torch.rand(b, n, a, generator=g) < 0.5
    next_legal[..., 1] = True
    return DiscreteBatch(torch.randn(b, n, SPEC.obs_dim, generator=g), actions, legal,
                         torch.rand(b, n, generator=g), torch.randn(b, n, SPEC.obs_dim, generator=g), next_legal,
                         torch.tensor([0.0, 1.0, 0.0, 0.0])[:b], torch.zeros(b, SPEC.state_dim),
                         torch.zeros(b, SPEC.state_dim))


def make(name: str, **values):
    module = algorithm_module(name)
    return module.Algorithm(module.Config(normalize_observations=False, **values), SPEC,
                            torch.Generator().manual_seed(0))


def test_both_are_registered_discrete_algorithms_and_paper_presets_apply():
    assert {"omar_discrete", "mabcq_discrete"} <= set(DISCRETE_ALGORITHMS)
    config, _ = build_config("omar_discrete", "imported/og-marl-smacv1-3m/expert-v0")
    assert config.tau == 0.9                                # OMAR B.1: tau 0.9 on expert data
    config, _ = build_config("omar_discrete", "imported/og-marl-smacv1-3m/medium-replay-v0")
    assert config.tau == 0.5
    with pytest.raises(MadataError, match="unknown search 'grid'; valid: omar, exact"):
        build_config("omar_discrete", "smax-3m/random-v0", overrides=["search=grid"])
    with pytest.raises(MadataError, match="epsilon must be in"):
        build_config("mabcq_discrete", "smax-3m/random-v0", overrides=["epsilon=1.5"])


def test_the_categorical_search_returns_legal_actions_no_worse_than_the_policy():
    g = torch.Generator().manual_seed(3)
    q = torch.randn(64, 3, SPEC.act_dim, generator=g)
    legal = torch.rand(64, 3, SPEC.act_dim, generator=g) < 0.5
    legal[..., 1] = True
    q[..., 0] = 100.0                                       # the best value, illegal wherever masked
    legal[..., 0] = False
    policy = masked(torch.randn(64, 3, SPEC.act_dim, generator=g), legal).argmax(-1)
    found = search_categorical(q, legal, policy, g)
    assert legal.gather(-1, found.unsqueeze(-1)).all()
    assert (q.gather(-1, found.unsqueeze(-1)) >= q.gather(-1, policy.unsqueeze(-1))).all()
    exact = search_categorical(q, legal, policy, g, method="exact")
    assert torch.equal(exact, masked(q, legal).argmax(-1))
    # With a few iterations the search finds the legal argmax on most rows (9 actions).
    assert (found == exact).float().mean() > 0.8


def test_omar_discrete_critic_loss_pinned_by_hand():
    algorithm = make("omar_discrete", cql_alpha=2.0)
    batch = tiny_batch()
    td, cql = algorithm.critic_losses(batch, batch.observations, batch.next_observations)
    next_action = masked(algorithm.target_actor(batch.next_observations), batch.next_legal).argmax(-1, keepdim=True)
    next_q = torch.minimum(*(c(batch.next_observations).gather(-1, next_action).squeeze(-1)
                             for c in algorithm.target_critics))
    target = batch.rewards + 0.99 * (1 - batch.dones).unsqueeze(-1) * next_q
    want_td = want_cql = 0.0
    for critic in algorithm.critics:
        q = critic(batch.observations)
        q_taken = q.gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
        want_td += (q_taken - target).pow(2).mean()
        legal_lse = torch.stack([torch.logsumexp(q[b, i][batch.legal[b, i]], 0)
                                 for b in range(4) for i in range(3)]).view(4, 3)
        want_cql += (legal_lse - q_taken).mean()
    assert torch.isclose(td, want_td) and torch.isclose(cql, want_cql)


@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_omar_discrete_actor_loss_pinned_by_hand(tau):
    algorithm = make("omar_discrete", tau=tau, search="exact")     # exact search: no randomness in a_hat
    batch = tiny_batch(1)
    state = algorithm.generator.get_state()
    loss, regression = algorithm.actor_loss(batch, batch.observations)
    logits = masked(algorithm.network(batch.observations), batch.legal)
    q = algorithm.critics[0](batch.observations)
    a_hat = masked(q, batch.legal).argmax(-1)
    want_regression = (torch.softmax(logits, -1) - F.one_hot(a_hat, SPEC.act_dim)).pow(2).sum(-1)
    algorithm.generator.set_state(state)
    sample = gumbel_softmax_hard(logits, 1.0, algorithm.generator)
    sampled = sample.argmax(-1)
    assert batch.legal.gather(-1, sampled.unsqueeze(-1)).all()           # Gumbel samples stay legal
    value = q.gather(-1, sampled.unsqueeze(-1)).squeeze(-1)
    want = (tau * want_regression - (1 - tau) * value).mean()
    assert torch.isclose(loss, want, atol=1e-6) and torch.isclose(regression, want_regression.mean())
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in algorithm.network.parameters())


def test_omar_discrete_delays_its_actor_and_keeps_losses_finite():
    algorithm = make("omar_discrete", batch_size=4)
    first = algorithm.update(tiny_batch(2))
    assert set(first) == {"td_loss", "cql_loss"}                      # policy_delay 2: critics only
    second = algorithm.update(tiny_batch(3))
    assert {"actor_loss", "rectification"} <= set(second)
    assert all(np.isfinite(v) for v in second.values())


def test_mabcq_discrete_transition_weight_is_the_classifier_ratio():
    batch = tiny_batch(4)
    g = torch.Generator().manual_seed(9)
    g1, g2 = torch.randn(4, 3, SPEC.act_dim, generator=g), torch.randn(4, 3, SPEC.act_dim, generator=g)
    log_tn = log_transition_weight(g1, g2, batch.actions, batch.legal)
    for b in range(4):
        for i in range(3):
            legal = batch.legal[b, i]
            p1 = torch.softmax(g1[b, i][legal], 0)[legal[:batch.actions[b, i]].sum()]
            p2 = torch.softmax(g2[b, i][legal], 0)[legal[:batch.actions[b, i]].sum()]
            assert torch.isclose(log_tn[b, i], torch.log(p1 / p2), atol=1e-5)


def test_mabcq_discrete_q_loss_pinned_by_hand():
    algorithm = make("mabcq_discrete", epsilon=0.5)
    batch = tiny_batch(5)
    loss, info = algorithm.losses(batch)
    obs, following = batch.observations, batch.next_observations
    probabilities = torch.softmax(masked(algorithm.imitation(following), batch.next_legal), -1)
    allowed = batch.next_legal & (probabilities / probabilities.amax(-1, keepdim=True) > 0.3)
    choice = masked(algorithm.network(following), allowed).argmax(-1, keepdim=True)
    next_value = (1 - batch.dones).unsqueeze(-1) * algorithm.target(following).gather(-1, choice).squeeze(-1)
    target = batch.rewards + 0.99 * next_value
    q_taken = algorithm.network(obs).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
    expected = (algorithm.target(obs).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1) - batch.rewards) / 0.99
    lambda_vd = (1 + (next_value - expected) / expected.abs().clamp(min=1e-3)).clamp(0.5, 1.5)
    lambda_tn = log_transition_weight(algorithm.imitation(obs), algorithm.transition(torch.cat([obs, following], -1)),
                                      batch.actions, batch.legal).exp()
    raw = lambda_vd * lambda_tn
    weights = raw / raw.mean(0, keepdim=True)                        # mean 1 per agent over the batch
    want = (weights * F.smooth_l1_loss(q_taken, target, reduction="none")).mean()
    assert torch.isclose(loss, want, atol=1e-6)
    plain = make("mabcq_discrete", value_deviation=False, transition_normalization=False)
    loss, _ = plain.losses(batch)                                    # both off: discrete BCQ's Q loss
    q_taken = plain.network(obs).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
    probabilities = torch.softmax(masked(plain.imitation(following), batch.next_legal), -1)
    allowed = batch.next_legal & (probabilities / probabilities.amax(-1, keepdim=True) > 0.3)
    choice = masked(plain.network(following), allowed).argmax(-1, keepdim=True)
    next_q = plain.target(following).gather(-1, choice).squeeze(-1)
    target = batch.rewards + 0.99 * (1 - batch.dones).unsqueeze(-1) * next_q
    assert torch.isclose(loss, F.smooth_l1_loss(q_taken, target), atol=1e-6)


@pytest.mark.parametrize("name", ["omar_discrete", "mabcq_discrete"])
def test_illegal_actions_are_never_chosen(name):
    algorithm = make(name, **({"threshold": 0.0} if name == "mabcq_discrete" else {}))
    with torch.no_grad():                                   # the acting network prefers action 6 (attack 0)
        algorithm.network.net[-1].bias.zero_()
        algorithm.network.net[-1].bias[6] = 1e3
    batch = tiny_batch(6)
    legal = batch.legal.numpy().transpose(1, 0, 2).copy()
    legal[..., 6] = False
    observations = batch.observations.numpy().transpose(1, 0, 2)
    actions = algorithm.act(observations, None, legal=legal)
    assert actions.shape == (3, 4) and np.take_along_axis(legal, actions[..., None], -1).all()
    legal[..., 6] = True
    assert (algorithm.act(observations, None, legal=legal) == 6).all()
    with pytest.raises(MadataError, match="legal-action masks"):
        algorithm.act(observations, None)


def test_mabcq_discrete_pretrain_fits_both_classifiers_then_freezes_them():
    algorithm = make("mabcq_discrete", generative_updates=60, batch_size=4, generative_lr=1e-2)
    batch = tiny_batch(7)

    class Fixed:                                            # a replay that always returns the same rows
        def sample(self, size, generator):
            return batch
    before = [loss.item() for loss in algorithm.generative_loss(batch)]
    info = algorithm.pretrain(Fixed(), torch.Generator())
    assert info["g1_loss"] < before[0] and info["g2_loss"] < before[1]
    assert not any(p.requires_grad for p in algorithm.imitation.parameters())
    assert not any(p.requires_grad for p in algorithm.transition.parameters())
