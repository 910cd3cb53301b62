"""The decentralized track's base: per-agent replay, the conditional VAE, BCQ, DDPG, behavior, diagnostics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from baselines.bcq import BCQ, BCQConfig
from baselines.core.replay import PerAgentReplay
from baselines.behavior import Behavior, BehaviorConfig
from baselines.core.config import seed_everything
from baselines.core.vae import StackedConditionalVAE
from baselines.ddpg import DDPG, DDPGConfig
from baselines.diagnostics import discounted_returns, fixed_state_sample
from baselines.evaluation import Evaluator
from madatasets.dataset import AgentDataset, load
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec

HOPPER = "hopper-3x1/random-v1"


@pytest.fixture(scope="module")
def hopper(tmp_path_factory):
    from collectors.collect import collect
    root = tmp_path_factory.mktemp("bcq") / "store"
    collect("hopper-3x1", "random", steps=300, store=root, progress=False)
    return load(HOPPER, str(root))


def synthetic_agent(index: int, steps: int, state_dim: int, obs_dim: int, act_dim: int, seed: int) -> AgentDataset:
    rng = np.random.default_rng(seed)
    states = rng.normal(size=(steps, state_dim)).astype(np.float32)
    return AgentDataset(
        agent_index=index, observations=rng.normal(size=(steps, obs_dim)).astype(np.float32),
        actions=rng.uniform(-1, 1, (steps, act_dim)).astype(np.float32),
        rewards=rng.normal(size=steps).astype(np.float32),
        next_observations=rng.normal(size=(steps, obs_dim)).astype(np.float32),
        states=states, next_states=np.roll(states, -1, axis=0),
        terminations=np.zeros(steps, np.float32), truncations=np.zeros(steps, np.float32),
        behavior_ids=np.zeros(steps, np.int16), episode_ends=np.array([steps]))


def test_replay_gives_each_agent_rows_of_its_own_dataset_only():
    spec = get_spec("hopper-3x1")
    agents = [synthetic_agent(i, 50 + 10 * i, spec.state_dim, spec.obs_dim, spec.act_dim, seed=i) for i in range(3)]
    replay = PerAgentReplay(agents)
    batch = replay.sample(64, torch.Generator().manual_seed(0))
    assert batch.observations.shape == (3, 64, spec.state_dim) and batch.actions.shape == (3, 64, spec.act_dim)
    for i, agent in enumerate(agents):
        own = {tuple(row) for row in agent.states.tolist()}
        assert all(tuple(row) in own for row in batch.observations[i].tolist())
    # Changing agent 2's dataset (content and length) leaves agents 0 and 1's minibatch rows unchanged.
    changed = PerAgentReplay(agents[:2] + [synthetic_agent(2, 999, spec.state_dim, spec.obs_dim, spec.act_dim, 9)])
    again = changed.sample(64, torch.Generator().manual_seed(0))
    assert torch.equal(batch.observations[:2], again.observations[:2])
    assert not torch.equal(batch.observations[2], again.observations[2])


def test_replay_reads_the_per_agent_view_of_a_dataset(hopper):
    replay = PerAgentReplay.from_dataset(hopper)
    assert replay.lengths.tolist() == [len(hopper.agent(i)) for i in range(3)]
    local = PerAgentReplay.from_dataset(hopper, observation="local")
    assert local.inputs.shape[1] == hopper.spec.obs_dim
    with pytest.raises(MadataError, match="observation must be one of"):
        PerAgentReplay.from_dataset(hopper, observation="joint")


def test_vae_fits_a_conditional_action_and_respects_padding():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])          # agent 1 has one real action dimension
    vae = StackedConditionalVAE(2, 3, 2, latent_dim=4, hidden=(32, 32), target_mask=mask)
    optimizer = torch.optim.Adam(vae.parameters(), lr=3e-3)
    conditions = torch.randn(2, 256, 3, generator=generator)
    targets = torch.tanh(conditions[..., :2]) * 0.8 * mask.unsqueeze(1)   # a deterministic function of c
    losses = []
    for _ in range(300):
        loss, recon, _ = vae.loss(conditions, targets, generator)
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
        losses.append(recon.detach())
    assert torch.all(losses[-1] < 0.3 * losses[0])
    decoded = vae.decode(conditions, generator=generator)
    assert decoded.shape == (2, 256, 2) and torch.all(decoded.abs() <= 1.0)
    assert torch.all(decoded[1, :, 1] == 0.0)
    assert ((decoded - targets) ** 2).mean() < 0.05


def make(cls, config, dataset, seed=0, observation="state"):
    config.observation = observation
    replay = PerAgentReplay.from_dataset(dataset, observation)
    generator = seed_everything(seed)
    return cls(config, dataset.spec, generator, replay.observation_statistics()), replay, generator


@pytest.mark.parametrize("observation", ["state", "local"])
def test_bcq_trains_with_finite_losses_and_acts_within_phi_of_g1(hopper, observation):
    algorithm, replay, generator = make(BCQ, BCQConfig(batch_size=64, vae_updates=5), hopper, observation=observation)
    assert algorithm.pretrain(replay, generator)["g1_loss"] > 0
    before = [p.detach().clone() for p in algorithm.perturbation.parameters()]
    for _ in range(3):
        losses = algorithm.update(replay.sample(64, generator))
    assert all(math.isfinite(v) for v in losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, algorithm.perturbation.parameters()))
    inputs = algorithm.normalize(replay.sample(16, generator).observations)
    sampled = algorithm.behavior_model.decode(inputs, generator=torch.Generator().manual_seed(3))
    shift = algorithm.perturb(algorithm.perturbation, inputs, sampled) - sampled
    assert shift.abs().max() <= algorithm.config.phi + 1e-6
    states = hopper.agent(0).states[:4]
    actions = algorithm.act(hopper.agent(0).observations[None, :4].repeat(3, 0), states,
                            torch.Generator().manual_seed(0))
    assert actions.shape == (3, 4, hopper.spec.act_dim) and np.all(np.abs(actions) <= 1.0)


def test_bcq_runs_are_reproducible(hopper):
    def train(seed):
        algorithm, replay, generator = make(BCQ, BCQConfig(batch_size=32, vae_updates=3), hopper, seed=seed)
        algorithm.pretrain(replay, generator)
        for _ in range(3):
            algorithm.update(replay.sample(32, generator))
        return torch.cat([p.detach().flatten() for p in algorithm.parameters()])
    assert torch.equal(train(1), train(1))
    assert not torch.equal(train(1), train(2))


def test_state_agents_refuse_to_act_without_the_state(hopper):
    algorithm, _, _ = make(BCQ, BCQConfig(), hopper)
    with pytest.raises(MadataError, match="observe the global state"):
        algorithm.act(np.zeros((3, 2, hopper.spec.obs_dim), np.float32))


def test_ddpg_and_behavior_train_and_act(hopper):
    ddpg, replay, generator = make(DDPG, DDPGConfig(batch_size=64), hopper)
    for _ in range(3):
        losses = ddpg.update(replay.sample(64, generator))
    assert all(math.isfinite(v) for v in losses.values())
    behavior, replay, generator = make(Behavior, BehaviorConfig(batch_size=64, vae_updates=20), hopper)
    fitted = behavior.pretrain(replay, generator)
    assert math.isfinite(fitted["g1_loss"]) and behavior.update(replay.sample(8, generator)) == fitted
    states = hopper.agent(1).states[:5]
    for algorithm in (ddpg, behavior):
        actions = algorithm.act(None, states, torch.Generator().manual_seed(0))
        assert actions.shape == (3, 5, 1) and np.all(np.abs(actions) <= 1.0)


def test_discounted_returns_and_fixed_state_sample(hopper):
    assert np.allclose(discounted_returns(np.array([1.0, 2.0, 3.0]), 0.5), [1 + 1 + 0.75, 2 + 1.5, 3])
    sample = fixed_state_sample(hopper, "state", 50, seed=0)
    assert sample.shape == (3, 50, hopper.spec.state_dim) and np.array_equal(sample[0], sample[2])
    assert np.array_equal(sample, fixed_state_sample(hopper, "state", 50, seed=0))
    local = fixed_state_sample(hopper, "local", 50, seed=0)
    assert local.shape == (3, 50, hopper.spec.obs_dim)


def test_diagnostics_measure_value_spread_and_extrapolation_error(hopper):
    algorithm, replay, generator = make(BCQ, BCQConfig(batch_size=32, vae_updates=3), hopper)
    evaluator = Evaluator.for_run(hopper, "per-agent", algorithm.config, episodes=2, seed=0, value_states=64)
    returns = evaluator(algorithm)
    again = evaluator(algorithm)
    assert returns.shape == (2,) and np.array_equal(returns, again)        # acting noise is the same stream
    diagnostics = evaluator.extras(algorithm)["diagnostics"]
    assert diagnostics["value_difference"] >= 0.0 and len(diagnostics["agent_values"]) == 3
    # Hopper falls quickly under an untrained policy, so every step of a terminated episode counts.
    assert diagnostics["extrapolation_steps"] > 0 and math.isfinite(diagnostics["extrapolation_error"])
    assert diagnostics["extrapolation_error"] >= abs(diagnostics["q_estimate"] - diagnostics["mc_return"]) - 1e-9
    behavior, _, _ = make(Behavior, BehaviorConfig(vae_updates=0), hopper)
    evaluator(behavior)
    assert evaluator.extras(behavior) == {"diagnostics": None}
