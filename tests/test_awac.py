"""AWAC per agent: shapes, acting, decentralized gradients, learning the behaviour, the harness."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.awac import AWAC, AWACConfig
from baselines.core.replay import Batch, PerAgentReplay
from madatasets.dataset import AgentDataset
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec

SPEC = get_spec("hopper-3x1")


def agent_data(index: int, steps: int, seed: int) -> AgentDataset:
    """States at random; agent i's behaviour action is a fixed function of the state (learnable)."""
    rng = np.random.default_rng(seed)
    states = rng.normal(size=(steps, SPEC.state_dim)).astype(np.float32)
    actions = np.tanh(states[:, :SPEC.act_dim] * (index + 1)).astype(np.float32)
    return AgentDataset(
        agent_index=index, observations=rng.normal(size=(steps, SPEC.obs_dim)).astype(np.float32),
        actions=actions, rewards=rng.normal(size=steps).astype(np.float32),
        next_observations=rng.normal(size=(steps, SPEC.obs_dim)).astype(np.float32),
        states=states, next_states=np.roll(states, -1, axis=0), terminations=np.zeros(steps, np.float32),
        truncations=np.zeros(steps, np.float32), behavior_ids=np.zeros(steps, np.int16),
        episode_ends=np.array([steps]))


def make_awac(seed: int = 0, **values) -> AWAC:
    torch.manual_seed(seed)
    config = AWACConfig(hidden=(32, 32), **values)
    return AWAC(config, SPEC, torch.Generator().manual_seed(seed))


def test_acting_shapes_and_bounds():
    awac = make_awac()
    inputs = torch.randn(3, 7, SPEC.state_dim)
    mean = awac.policy(inputs, None)
    sampled = awac.exploration_policy(inputs, torch.Generator().manual_seed(0))
    assert mean.shape == sampled.shape == (3, 7, SPEC.act_dim)
    assert sampled.abs().max() <= 1.0 and torch.equal(awac.policy(inputs, None), mean)
    actions = awac.act(np.zeros((3, 7, SPEC.obs_dim), np.float32), np.zeros((7, SPEC.state_dim), np.float32))
    assert actions.shape == (3, 7, SPEC.act_dim)
    assert awac.q_values(inputs, mean).shape == (3, 7)


def test_agent_update_depends_only_on_its_own_rows():
    replay = PerAgentReplay([agent_data(i, 64, seed=i) for i in range(3)])
    batch = replay.sample(32, torch.Generator().manual_seed(0))
    changed = Batch(**{k: v.clone() for k, v in vars(batch).items() if v is not None})
    changed.rewards[2] += 5.0
    changed.actions[2] = -changed.actions[2]
    first, second = make_awac(), make_awac()
    first.update(batch)
    second.update(changed)
    actor_a, actor_b = first.actor.layers[0].weight, second.actor.layers[0].weight
    assert torch.equal(actor_a[:2], actor_b[:2]) and not torch.equal(actor_a[2], actor_b[2])
    critic_a, critic_b = first.critic.layers[0].weight, second.critic.layers[0].weight   # members: Q1 0..2, Q2 3..5
    own = [0, 1, 3, 4]
    assert torch.equal(critic_a[own], critic_b[own]) and not torch.equal(critic_a[[2, 5]], critic_b[[2, 5]])


def test_actor_learns_the_behaviour_and_losses_stay_finite():
    replay = PerAgentReplay([agent_data(i, 512, seed=i) for i in range(3)])
    awac = make_awac(batch_size=128, actor_lr=3e-3, critic_lr=3e-3)
    generator = torch.Generator().manual_seed(1)
    probe = replay.sample(256, torch.Generator().manual_seed(9))
    inputs = awac.normalize(probe.observations)
    before = ((awac.policy(inputs, None) - probe.actions) ** 2).mean().item()
    for _ in range(300):
        losses = awac.update(replay.sample(128, generator))
    after = ((awac.policy(inputs, None) - probe.actions) ** 2).mean().item()
    assert all(np.isfinite(v) for v in losses.values())
    assert after < 0.5 * before


def test_bad_config_is_rejected():
    with pytest.raises(MadataError):
        AWACConfig(temperature=0.0).validate()
    with pytest.raises(MadataError):
        AWACConfig(initial_log_std=3.0).validate()


def test_harness_trains_awac_as_an_offline_baseline(tmp_path):
    from baselines.bench import RunSpec, train_run
    from collectors.collect import collect
    store = tmp_path / "store"
    collect("hopper-3x1", "random", steps=300, store=store, progress=False)
    result = train_run(RunSpec(algorithm="awac", dataset_id="hopper-3x1/random-v1", updates=20, eval_every=10,
                               eval_episodes=2, store=str(store), out_dir=str(tmp_path / "out"), progress=False,
                               overrides=("hidden=32,32",)))
    assert result["label"] == "awac[hidden=32,32]" and len(result["curve"]) == 2
    assert np.isfinite(result["final"]["mean_return"])
    assert result["curve"][-1]["diagnostics"]["extrapolation_error"] is None or \
        np.isfinite(result["curve"][-1]["diagnostics"]["extrapolation_error"])
