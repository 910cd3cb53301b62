"""What the review found unpinned: OMAR's actor loss at its two ends, the MA-TD3+BC lambda, MA-ICQ's weights."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from baselines.algorithms import algorithm_module
from baselines.configure import build_config
from baselines.core import OfflineReplay, seed_everything
from baselines.core.actor_critic import masked_squared_error
from baselines.maicq import batch_weights
from madatasets.scenarios import get_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SPREAD = "mpe-spread-3/random-v1"


@pytest.fixture(scope="module")
def data():
    """Random joint transitions of spread's shapes (no simulator needed for losses)."""
    spec = get_spec("mpe-spread-3")
    rng = np.random.default_rng(0)
    steps, n = 200, spec.n_agents
    observations = rng.normal(size=(steps, n, spec.obs_dim)).astype(np.float32)
    arrays = {"observations": observations,
              "actions": rng.uniform(-1, 1, size=(steps, n, spec.act_dim)).astype(np.float32),
              "rewards": rng.normal(size=(steps, n)).astype(np.float32),
              "next_observations": np.roll(observations, -1, axis=0), "dones": np.zeros((steps, n), np.float32)}
    return spec, OfflineReplay(arrays, np.array([100, 200]))


def make(name: str, data, **values):
    spec, replay = data
    config, _ = build_config(name, SPREAD)
    config = dataclasses.replace(config, batch_size=32, **values)
    generator = seed_everything(0)
    algorithm = algorithm_module(name).Algorithm(config, spec, generator, replay.observation_statistics())
    return algorithm, replay.sample(32, torch.Generator().manual_seed(1))


def actor_gradients(algorithm, loss: torch.Tensor) -> list[torch.Tensor]:
    return [g.clone() for g in torch.autograd.grad(loss, list(algorithm.actor.parameters()))]


def test_omar_at_tau_0_is_pure_policy_gradient(data):
    omar, batch = make("omar", data, tau=0.0)
    loss, _ = omar.actor_loss(batch)
    q = omar.q_values(batch, omar.actor(omar.normalize(batch.observations)), twin=False)
    expected = -q.mean(dim=-1).sum()
    assert torch.allclose(loss, expected)
    for a, b in zip(actor_gradients(omar, loss), actor_gradients(omar, expected)):
        assert torch.allclose(a, b, atol=1e-6)


def test_omar_at_tau_1_is_pure_regression_onto_the_rectified_actions(data):
    omar, batch = make("omar", data, tau=1.0)
    state = omar.generator.get_state()
    loss, _ = omar.actor_loss(batch)
    omar.generator.set_state(state)                 # the same sampler draws again
    policy = omar.actor(omar.normalize(batch.observations))
    targets = omar.rectified_actions(batch, policy)
    expected = masked_squared_error(policy, targets, omar.act_mask.unsqueeze(1)).mean(dim=-1).sum()
    assert torch.allclose(loss, expected)
    # No Q term: the critic only picks the targets (inside the search), the loss has no gradient path to it.
    critic_grads = torch.autograd.grad(loss, list(omar.critic.parameters()), allow_unused=True)
    assert all(g is None or torch.count_nonzero(g) == 0 for g in critic_grads)


def test_matd3_bc_lambda_is_alpha_over_mean_abs_q_without_gradient(data):
    algorithm, batch = make("matd3_bc", data, alpha=2.5)
    loss, _ = algorithm.actor_loss(batch)
    policy = algorithm.actor(algorithm.normalize(batch.observations))
    q = algorithm.q_values(batch, policy, twin=False)
    lam = 2.5 / q.abs().mean(dim=-1, keepdim=True).detach()          # one lambda per agent, a constant
    behaviour = masked_squared_error(policy, batch.actions, algorithm.act_mask.unsqueeze(1))
    expected = (-lam * q + behaviour).mean(dim=-1).sum()
    assert torch.allclose(loss, expected)
    for a, b in zip(actor_gradients(algorithm, loss), actor_gradients(algorithm, expected)):
        assert torch.allclose(a, b, atol=1e-6)
    # lambda normalises the Q scale away: a critic 10x larger gives the same Q term.
    q_term = lambda values: (-(2.5 / values.abs().mean(dim=-1, keepdim=True)) * values).mean()  # noqa: E731
    assert torch.allclose(q_term(q.detach()), q_term(10 * q.detach()))


def test_maicq_weights_are_batch_softmax_times_the_valid_count():
    values = torch.tensor([[0.0, float(np.log(2.0)), 5.0]])
    weights = batch_weights(values, temperature=1.0, valid=torch.tensor([[1.0, 1.0, 0.0]]))
    assert torch.allclose(weights, torch.tensor([[2 / 3, 4 / 3, 0.0]]))
    assert torch.allclose(batch_weights(values * 10, temperature=10.0), batch_weights(values, temperature=1.0))
    assert torch.allclose(batch_weights(torch.zeros(2, 4), 1.0), torch.ones(2, 4))
    assert torch.equal(batch_weights(values, 1.0, valid=torch.zeros(1, 3)), torch.zeros(1, 3))


def test_maicq_actor_regresses_with_advantage_weights(data):
    algorithm, batch = make("maicq", data, actor_temperature=0.5)
    loss, _ = algorithm.actor_loss(batch)
    policy = algorithm.actor(algorithm.normalize(batch.observations))
    with torch.no_grad():
        advantage = algorithm.q_values(batch, batch.actions, twin=False) - algorithm.q_values(batch, policy, twin=False)
        weights = batch.batch_size * torch.softmax(advantage / 0.5, dim=-1)
    regression = masked_squared_error(policy, batch.actions, algorithm.act_mask.unsqueeze(1))
    assert torch.allclose(loss, (weights * regression).mean(dim=-1).sum())


def test_maicq_target_uses_the_behaviour_next_action_and_the_policy_at_episode_ends(data):
    algorithm, batch = make("maicq", data)
    target = algorithm.td_target(batch)
    n = algorithm.n_agents

    def target_q(inputs):
        return algorithm.critic_target(inputs.repeat(2, 1, 1)).view(2, n, -1).min(dim=0).values
    q_behaviour = target_q(algorithm.target_inputs(batch, own_next_actions=batch.next_actions))
    q_policy = target_q(algorithm.target_inputs(batch))
    has_next = batch.has_next_action
    weights = batch_weights(q_behaviour, algorithm.config.critic_temperature, has_next)
    bootstrap = has_next * weights * q_behaviour + (1 - has_next) * q_policy
    assert torch.allclose(target, batch.rewards + algorithm.config.gamma * (1 - batch.dones) * bootstrap)
