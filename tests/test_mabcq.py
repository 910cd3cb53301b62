"""MABCQ: the two importance weights, the ablations, decentralization by construction, the harness."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from baselines.bcq import BCQ, BCQConfig
from baselines.bench import RunSpec, train_run
from baselines.configure import build_config
from baselines.core.replay import PerAgentReplay
from baselines.core.config import seed_everything
from baselines.mabcq import (MABCQ, MABCQConfig, normalized_weights, transition_normalization_log_weight,
                             value_deviation_weight)
from madatasets.dataset import AgentDataset, load
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec

SPREAD = "mpe-spread-3/random-v1"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from collectors.collect import collect
    root = tmp_path_factory.mktemp("mabcq") / "store"
    collect("hopper-3x1", "random", steps=300, store=root, progress=False)
    collect("mpe-spread-3", "random", steps=100, store=root, progress=False)
    return str(root)


# -- value deviation ------------------------------------------------------------------------------
def test_value_deviation_is_one_when_the_next_value_equals_its_expectation():
    expected = torch.tensor([5.0, -3.0, 0.2, -1e-5, 0.0])
    assert torch.allclose(value_deviation_weight(expected.clone(), expected, 0.8), torch.ones(5))


def test_value_deviation_is_clipped_at_one_plus_minus_epsilon():
    expected = torch.tensor([1.0, 1.0, -2.0, -2.0, 1e-9])
    next_value = torch.tensor([100.0, -100.0, 50.0, -50.0, 3.0])
    weights = value_deviation_weight(next_value, expected, 0.48)
    assert torch.allclose(weights, torch.tensor([1.48, 0.52, 1.48, 0.52, 1.48]))
    inside = value_deviation_weight(torch.tensor([1.2]), torch.tensor([1.0]), 0.48)
    assert torch.allclose(inside, torch.tensor([1.2]))


def test_value_deviation_raises_better_next_states_also_for_negative_values():
    # MPE rewards are negative: a next state better than the expectation must still weigh more than 1.
    expected = torch.tensor([-10.0, -10.0])
    weights = value_deviation_weight(torch.tensor([-8.0, -12.0]), expected, 0.8)
    assert weights[0] > 1.0 > weights[1]
    assert torch.allclose(weights, torch.tensor([1.2, 0.8]))


# -- transition normalization -------------------------------------------------------------------------
def test_transition_weight_in_log_space_is_finite_for_extreme_latents():
    latent = torch.tensor([[0.0] * 10, [1e4] * 10, [-1e4] * 10, [3.0] * 10])
    log_density = -0.5 * (latent ** 2).sum(-1)          # ~ -5e8: exp() would underflow to 0
    log_tn = transition_normalization_log_weight(log_density, log_density.flip(0))
    weights = normalized_weights(log_tn)
    assert torch.all(torch.isfinite(log_tn)) and torch.all(torch.isfinite(weights))
    assert math.isclose(weights.mean().item(), 1.0, rel_tol=1e-6)


def test_normalized_weights_have_mean_one_and_keep_ratios():
    log_weights = torch.log(torch.tensor([[1.0, 2.0, 5.0], [0.5, 0.5, 0.5]]))
    weights = normalized_weights(log_weights)
    assert torch.allclose(weights.mean(-1), torch.ones(2))
    assert torch.allclose(weights[0] / weights[0, 0], torch.tensor([1.0, 2.0, 5.0]))
    assert torch.allclose(normalized_weights(log_weights + 700.0), weights, atol=1e-3)   # no overflow


def test_model_transition_weight_stays_finite_when_latent_means_explode(store):
    algorithm, replay, generator = make(MABCQ, MABCQConfig(batch_size=32, vae_updates=2), load_hopper(store))
    with torch.no_grad():
        algorithm.transition_model.encoder.layers[-1].bias.fill_(1e6)     # mu2 ~ 1e6 in every latent dim
    batch = replay.sample(32, generator)
    inputs, next_inputs = algorithm.normalize(batch.observations), algorithm.normalize(batch.next_observations)
    log_tn = algorithm.log_transition_weight(inputs, batch.actions, next_inputs)
    assert torch.all(torch.isfinite(log_tn)) and log_tn.min() > 1e12
    weights, _ = algorithm.sample_weights(batch, inputs, next_inputs, algorithm.next_state_value(next_inputs))
    assert torch.all(torch.isfinite(weights)) and torch.allclose(weights.mean(-1), torch.ones(3))
    assert all(math.isfinite(v) for v in algorithm.update(batch).values())


# -- the algorithm --------------------------------------------------------------------------------------
def load_hopper(store):
    return load("hopper-3x1/random-v1", store)


def make(cls, config, dataset, seed=0):
    replay = PerAgentReplay.from_dataset(dataset, config.observation)
    generator = seed_everything(seed)
    return cls(config, dataset.spec, generator, replay.observation_statistics()), replay, generator


@pytest.mark.parametrize("value_deviation,transition_normalization", [(True, True), (False, True), (True, False)])
def test_mabcq_and_its_ablations_train_with_finite_losses(store, value_deviation, transition_normalization):
    config = MABCQConfig(batch_size=64, vae_updates=5, value_deviation=value_deviation,
                         transition_normalization=transition_normalization)
    algorithm, replay, generator = make(MABCQ, config, load_hopper(store))
    fitted = algorithm.pretrain(replay, generator)
    assert ("g2_loss" in fitted) is transition_normalization
    for _ in range(3):
        losses = algorithm.update(replay.sample(64, generator))
    assert all(math.isfinite(v) for v in losses.values())
    assert ("lambda_vd_mean" in losses) is value_deviation
    assert ("log_lambda_tn_mean" in losses) is transition_normalization
    if value_deviation:
        assert 1 - config.epsilon <= losses["lambda_vd_mean"] <= 1 + config.epsilon


def test_mabcq_without_both_weights_is_exactly_bcq(store):
    dataset = load_hopper(store)

    def train(cls, config):
        algorithm, replay, generator = make(cls, config, dataset, seed=5)
        algorithm.pretrain(replay, generator)
        for _ in range(3):
            algorithm.update(replay.sample(32, generator))
        return algorithm.state_dict()

    mabcq = train(MABCQ, MABCQConfig(batch_size=32, vae_updates=3, value_deviation=False,
                                     transition_normalization=False))
    bcq = train(BCQ, BCQConfig(batch_size=32, vae_updates=3))
    assert mabcq.keys() == bcq.keys() and all(torch.equal(mabcq[k], bcq[k]) for k in bcq)


def synthetic_agent(index, steps, spec, seed):
    rng = np.random.default_rng(seed)
    states = rng.normal(size=(steps, spec.state_dim)).astype(np.float32)
    return AgentDataset(
        agent_index=index, observations=rng.normal(size=(steps, spec.obs_dim)).astype(np.float32),
        actions=(rng.uniform(-1, 1, (steps, spec.act_dim)) * spec.act_mask[index]).astype(np.float32),
        rewards=rng.normal(size=steps).astype(np.float32),
        next_observations=rng.normal(size=(steps, spec.obs_dim)).astype(np.float32),
        states=states, next_states=np.roll(states, -1, axis=0),
        terminations=(rng.uniform(size=steps) < 0.05).astype(np.float32), truncations=np.zeros(steps, np.float32),
        behavior_ids=np.zeros(steps, np.int16), episode_ends=np.array([steps]))


def test_changing_agent_js_dataset_leaves_agent_is_update_unchanged():
    spec = get_spec("hopper-3x1")
    base = [synthetic_agent(i, 200, spec, seed=i) for i in range(3)]
    other = base[:2] + [synthetic_agent(2, 350, spec, seed=42)]          # agent 2: different data and size

    def train(agents):
        replay = PerAgentReplay(agents)
        generator = seed_everything(0)
        # Statistics are each agent's own; train with them so that normalization is covered too.
        algorithm = MABCQ(MABCQConfig(batch_size=64, vae_updates=4), spec, generator, replay.observation_statistics())
        algorithm.pretrain(replay, generator)
        for _ in range(4):
            algorithm.update(replay.sample(64, generator))
        return algorithm

    first, second = train(base), train(other)
    n = spec.n_agents
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        if a.dim() == 0:
            continue
        # Twin critics stack 2N members: agent i owns members i and N + i.
        members = a.shape[0]
        own = [0, 1] if members == n else [0, 1, n, n + 1]
        assert torch.equal(a[own], b[own]), f"{name}: agents 0 and 1 changed when only agent 2's data did"
    changed = [torch.equal(a[2], b[2]) for a, b in zip(first.critic.parameters(), second.critic.parameters())]
    assert not all(changed)


# -- presets, errors, harness -------------------------------------------------------------------------
@pytest.mark.parametrize("dataset_id,epsilon", [("halfcheetah-2x3/mixed-v1", 0.80), ("walker2d-2x3/mixed-v1", 0.48),
                                                ("hopper-3x1/mixed-v1", 0.80), ("ant-4x2/mixed-v1", 0.64)])
def test_paper_preset_is_table_8(dataset_id, epsilon):
    config, notes = build_config("mabcq", dataset_id)
    assert config.epsilon == epsilon and not notes
    assert (config.batch_size, config.hidden, config.critic_lr, config.perturbation_lr, config.vae_lr) == \
        (1024, (64, 64), 1e-3, 1e-4, 1e-4)
    assert (config.latent_dim, config.phi, config.n_actions, config.gamma) == (10, 0.05, 10, 0.99)
    assert build_config("mabcq", dataset_id, overrides=["epsilon=0.3"])[0].epsilon == 0.3


def test_bad_settings_raise_one_line_errors():
    with pytest.raises(MadataError, match="epsilon must be in"):
        build_config("mabcq", "hopper-3x1/mixed-v1", overrides=["epsilon=1.0"])
    with pytest.raises(MadataError, match="no centralized-critic variant"):
        build_config("bcq", "hopper-3x1/mixed-v1", critic="centralized")
    with pytest.raises(MadataError, match="unknown hyperparameter"):
        build_config("ddpg", "hopper-3x1/mixed-v1", overrides=["value_deviation=false"])


def test_harness_runs_mabcq_and_logs_the_diagnostics(store, tmp_path):
    def run(out):
        return train_run(RunSpec("mabcq", "hopper-3x1/random-v1", seed=1, updates=4, eval_every=2, eval_episodes=2,
                                 store=store, overrides=("batch_size=32", "vae_updates=3"), out_dir=str(out),
                                 progress=False))
    result = run(tmp_path / "a")
    saved = json.loads(open(result["path"]).read())
    assert len(saved["curve"]) == 2 and saved["pretrain"]["g2_loss"] > 0 and saved["config"]["epsilon"] == 0.8
    for point in saved["curve"]:
        diagnostics = point["diagnostics"]
        assert diagnostics["value_difference"] >= 0 and math.isfinite(diagnostics["extrapolation_error"])
    assert run(tmp_path / "b")["curve"] == result["curve"]
    from baselines.checkpoints import evaluate_checkpoint
    rerun = evaluate_checkpoint(result["path"].replace(".json", ".pt"), episodes=2)
    assert rerun["returns"] == result["final"]["returns"]
    from baselines.diagnostics_report import main
    main([str(tmp_path / "a"), "--plot", str(tmp_path / "fig")])
    assert (tmp_path / "fig-value-difference.png").stat().st_size > 0
    assert (tmp_path / "fig-extrapolation-error.png").stat().st_size > 0


def test_short_truncated_episodes_have_no_usable_monte_carlo_steps(store, tmp_path):
    # 25-step MPE episodes end by truncation: no step has a return tail below 1% weight at gamma 0.99.
    result = train_run(RunSpec("bcq", SPREAD, seed=0, updates=1, eval_every=1, eval_episodes=1, store=store,
                               overrides=("batch_size=16", "vae_updates=1"), out_dir=str(tmp_path), progress=False))
    diagnostics = result["curve"][0]["diagnostics"]
    assert diagnostics["extrapolation_error"] is None and diagnostics["extrapolation_steps"] == 0
    assert diagnostics["value_difference"] >= 0


def test_cli_ablation_flags_and_errors(store, tmp_path):
    from madatasets.cli import cli
    runner = CliRunner()
    result = runner.invoke(cli, ["bench", "mabcq", "--dataset", SPREAD, "--store", store, "--seeds", "1",
                                  "--steps", "1", "--eval-episodes", "1", "--no-value-deviation", "--quiet",
                                  "--set", "vae_updates=1", "--set", "batch_size=16", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "mabcq[batch_size=16,vae_updates=1,value_deviation=false]" in result.output
    bad = runner.invoke(cli, ["bench", "mabcq", "--dataset", SPREAD, "--store", store, "--critic", "centralized",
                               "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "no centralized-critic variant" in bad.output and "Traceback" not in bad.output


def test_harness_trains_on_a_per_agent_dataset(tmp_path, monkeypatch):
    """A `per-agent` layout dataset (the `mixed` tier's) through the store, load().agent(i) and the harness.

    The zoo-driven mixed tier needs trained behaviour policies; here a stand-in tier
    gives each agent its own uniform-random collection with a different seed.
    """
    from collectors import collect as collect_module
    from collectors.rollout import UniformRandomPolicy
    from collectors.tiers import TierData, rollout_feed

    def prepare(spec, seed, zoo):
        def run(steps, workers, progress, description):
            policy = UniformRandomPolicy(spec.act_mask)
            datasets = {f"agent_{i}/": rollout_feed(spec, [(policy, steps + 40 * i, seed + i, description)], 1, False)
                        for i in range(spec.n_agents)}
            return TierData(datasets, policy.describe(), "per-agent", {})
        return run

    monkeypatch.setitem(collect_module.TIER_COLLECTORS, "mixed", prepare)
    store = str(tmp_path / "store")
    collect_module.collect("hopper-3x1", "mixed", steps=120, store=store, progress=False)
    dataset = load("hopper-3x1/mixed-v1", store)
    assert dataset.layout == "per-agent"
    replay = PerAgentReplay.from_dataset(dataset)
    assert replay.lengths.tolist() == [120, 160, 200]
    result = train_run(RunSpec("mabcq", "hopper-3x1/mixed-v1", updates=2, eval_every=2, eval_episodes=1, store=store,
                               overrides=("batch_size=16", "vae_updates=2"), out_dir=str(tmp_path / "out"),
                               progress=False))
    assert math.isfinite(result["final"]["mean_return"]) and result["curve"][0]["diagnostics"] is not None
