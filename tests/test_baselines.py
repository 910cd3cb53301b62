"""Offline MARL baselines: every algorithm trains, the pieces behave as their papers say, runs reproduce."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from baselines.algorithms import ALGORITHMS, CENTRALIZABLE, algorithm_module
from baselines.bench import RunSpec, train_run
from baselines.checkpoints import evaluate_checkpoint
from baselines.configure import build_config
from baselines.core import OfflineReplay, StackedMLP, search_actions, seed_everything
from benchmarks.reference import LoopedMLP
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec

SPREAD = "mpe-spread-3/random-v1"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from collectors.collect import collect
    root = tmp_path_factory.mktemp("baselines") / "store"
    collect("mpe-spread-3", "random", steps=300, store=root, progress=False)
    return str(root)


@pytest.fixture(scope="module")
def spread_replay(store):
    from madatasets.dataset import load
    dataset = load(SPREAD, store)
    return dataset, OfflineReplay.from_dataset(dataset, joint=True)


def make_algorithm(name: str, dataset, replay, seed: int = 0, **values):
    config, _ = build_config(name, dataset.id, critic=values.pop("critic", "decentralized"))
    config = dataclasses.replace(config, **values)
    generator = seed_everything(seed)
    return algorithm_module(name).Algorithm(config, dataset.spec, generator, replay.observation_statistics()), generator


def synthetic_arrays(steps: int, agents: int, obs_dim: int, act_dim: int, seed: int, actions=None, rewards=None):
    rng = np.random.default_rng(seed)
    observations = rng.normal(size=(steps, agents, obs_dim)).astype(np.float32)
    if actions is None:
        actions = rng.uniform(-1, 1, size=(steps, agents, act_dim)).astype(np.float32)
    arrays = {
        "observations": observations, "actions": actions,
        "rewards": np.zeros((steps, agents), np.float32) if rewards is None else rewards,
        "next_observations": np.roll(observations, -1, axis=0), "dones": np.zeros((steps, agents), np.float32),
        "states": observations.reshape(steps, -1), "next_states": np.roll(observations, -1, axis=0).reshape(steps, -1),
    }
    return arrays, np.array([steps])


# -- every algorithm trains -----------------------------------------------------------------------
@pytest.mark.parametrize("name,critic", [(a, "decentralized") for a in ALGORITHMS] +
                         [(a, "centralized") for a in CENTRALIZABLE])
def test_every_algorithm_runs_a_few_updates_with_finite_losses(spread_replay, name, critic):
    dataset, replay = spread_replay
    algorithm, generator = make_algorithm(name, dataset, replay, batch_size=32, policy_delay=1, critic=critic)
    before = [p.detach().clone() for p in algorithm.actor.parameters()]
    for _ in range(3):
        losses = algorithm.update(replay.sample(32, generator))
    assert losses and all(math.isfinite(v) for v in losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, algorithm.actor.parameters()))
    actions = algorithm.act(dataset.observations[:5].transpose(1, 0, 2))
    assert actions.shape == (3, 5, 5) and np.all(np.abs(actions) <= 1.0)


# -- OMAR's sampler -------------------------------------------------------------------------------
def bimodal(actions: torch.Tensor) -> torch.Tensor:
    """A known multi-modal Q of the action: local max 5 at -0.7, global max 10 at 0.6 (per dimension)."""
    local = ((actions + 0.7) ** 2).sum(dim=-1)
    best = ((actions - 0.6) ** 2).sum(dim=-1)
    return 5.0 * torch.exp(-local / 0.18) + 10.0 * torch.exp(-best / 0.18)


def test_omar_sampler_finds_the_global_maximum_that_gradient_ascent_misses():
    # One action dimension: with the paper's settings (3 x 10 samples from N(0, 2) clipped to
    # [-1, 1]) the search covers a 1-d action well; see docs/baselines.md for 2-d.
    agents, rows = 2, 200
    poor_start = torch.full((agents, rows, 1), -0.9)
    mask = torch.ones(agents, 1)
    found = search_actions(bimodal, poor_start, mask, torch.Generator().manual_seed(0))
    # Plain gradient ascent on the same function from the same start.
    action = poor_start.clone().requires_grad_(True)
    optimizer = torch.optim.SGD([action], lr=0.01)
    for _ in range(500):
        optimizer.zero_grad()
        (-bimodal(action).sum()).backward()
        optimizer.step()
    ascended = action.detach()
    near_global = lambda a: ((a - 0.6).norm(dim=-1) < 0.25).float().mean().item()  # noqa: E731
    assert near_global(ascended) == 0.0
    assert torch.allclose(ascended, torch.full_like(ascended, -0.7), atol=0.05)   # stuck on the local max
    assert near_global(found) > 0.85
    assert bimodal(found).mean() > 1.5 * bimodal(ascended).mean()


@pytest.mark.parametrize("method", ["omar", "cem", "random"])
def test_samplers_never_return_worse_than_the_policy_action(method):
    policy = torch.full((1, 64, 2), 0.55)     # already near the global max
    found = search_actions(bimodal, policy, torch.ones(1, 2), torch.Generator().manual_seed(1), method=method)
    assert torch.all(bimodal(found) >= bimodal(policy) - 1e-6)
    assert found.abs().max() <= 1.0


def test_sampler_leaves_padded_action_dimensions_zero():
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    found = search_actions(lambda a: -(a ** 2).sum(-1), torch.zeros(2, 8, 3), mask, torch.Generator().manual_seed(0))
    assert torch.all(found[0, :, 2] == 0) and torch.all(found[1, :, 1:] == 0)


# -- BC and CQL behave as they should -------------------------------------------------------------
def test_bc_reproduces_the_behaviour_actions_of_an_expert_dataset():
    spec = get_spec("mpe-spread-3")
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(3, spec.obs_dim, spec.act_dim)) / np.sqrt(spec.obs_dim)
    steps = 2000
    observations = rng.normal(size=(steps, 3, spec.obs_dim)).astype(np.float32)
    expert = np.tanh(np.einsum("tno,noa->tna", observations, weights)).astype(np.float32)   # a deterministic "expert"
    arrays, ends = synthetic_arrays(steps, 3, spec.obs_dim, spec.act_dim, 0, actions=expert)
    arrays["observations"] = observations
    replay = OfflineReplay(arrays, ends)
    config = dataclasses.replace(algorithm_module("bc").Config(), actor_lr=3e-3)
    generator = seed_everything(0)
    bc = algorithm_module("bc").Algorithm(config, spec, generator, replay.observation_statistics())
    error = lambda: float(((bc.act(observations[:500].transpose(1, 0, 2)) - expert[:500].transpose(1, 0, 2)) ** 2).mean())  # noqa: E731
    initial = error()
    for _ in range(400):
        bc.update(replay.sample(256, generator))
    assert error() < 0.02 < initial


def test_cql_term_lowers_q_on_out_of_distribution_actions():
    spec = get_spec("mpe-spread-3")
    steps = 512
    rng = np.random.default_rng(0)
    # The behaviour always plays actions near +0.5; rewards are 0, so TD alone leaves Q flat.
    actions = np.clip(0.5 + 0.05 * rng.normal(size=(steps, 3, spec.act_dim)), -1, 1).astype(np.float32)
    arrays, ends = synthetic_arrays(steps, 3, spec.obs_dim, spec.act_dim, 1, actions=actions)
    replay = OfflineReplay(arrays, ends)

    def gap(cql_weight: float) -> float:
        config = dataclasses.replace(algorithm_module("macql").Config(), cql_weight=cql_weight, actor_lr=1e-9,
                                     critic_lr=3e-3)
        generator = seed_everything(0)
        macql = algorithm_module("macql").Algorithm(config, spec, generator)
        for _ in range(60):
            macql.update(replay.sample(128, generator))
        batch = replay.sample(256, generator)
        with torch.no_grad():
            q_data = macql.q_values(batch, batch.actions, twin=False).mean().item()
            ood = -batch.actions                                             # far from every dataset action
            q_ood = macql.q_values(batch, ood, twin=False).mean().item()
        return q_data - q_ood

    assert gap(5.0) > 0.5
    assert gap(5.0) > gap(0.0) + 0.5


# -- batching changes nothing ---------------------------------------------------------------------
def test_stacked_agents_equal_each_agents_network_alone():
    torch.manual_seed(0)
    input_mask = torch.ones(4, 7)
    input_mask[2, 5:] = 0
    stacked = StackedMLP(4, 7, 3, (16, 16), input_mask=input_mask, output_activation="tanh")
    looped = LoopedMLP.from_stacked(stacked)
    x = torch.randn(4, 10, 7)
    together = stacked(x)
    assert torch.allclose(together, looped(x), atol=1e-6)
    for agent in range(4):
        alone = stacked(x[agent:agent + 1], members=slice(agent, agent + 1))
        assert torch.allclose(alone[0], together[agent], atol=1e-6)
    # Agent 0's output never depends on agent 1's input, nor agent 2's on its padded dims.
    changed = x.clone()
    changed[1] += 5.0
    changed[2, :, 5:] += 5.0
    after = stacked(changed)
    assert torch.equal(after[0], together[0]) and torch.equal(after[2], together[2])


def test_decentralized_critic_never_sees_other_agents_actions(spread_replay):
    dataset, replay = spread_replay
    macql, generator = make_algorithm("macql", dataset, replay)
    batch = replay.sample(16, generator)
    q = macql.q_values(batch, batch.actions)
    other = batch.actions.clone()
    other[1] = torch.rand(other[1].shape) * 2 - 1
    q_other = macql.q_values(batch, other)
    assert torch.equal(q[:, 0], q_other[:, 0]) and torch.equal(q[:, 2], q_other[:, 2])
    assert not torch.equal(q[:, 1], q_other[:, 1])


@pytest.mark.parametrize("name,critic", [("omar", "decentralized"), ("omar", "centralized"), ("maicq", "centralized")])
def test_a_batched_update_equals_the_per_agent_loop_update(spread_replay, name, critic):
    from benchmarks.reference import compare_update
    dataset, replay = spread_replay
    worst = compare_update(name, dataset, replay, critic=critic, batch_size=64, updates=2)
    assert worst < 1e-4


# -- harness: reproducible runs, results, checkpoints, reports -------------------------------------
def test_same_seed_same_numbers_and_checkpoint_reruns_the_final_evaluation(store, tmp_path):
    def run(seed: int, out: str):
        return train_run(RunSpec("omar", SPREAD, seed=seed, updates=4, eval_every=2, eval_episodes=2,
                                 overrides=("batch_size=32",), out_dir=str(tmp_path / out), store=store,
                                 progress=False))
    first, again, other = run(3, "a"), run(3, "b"), run(4, "c")
    assert [p["mean_return"] for p in first["curve"]] == [p["mean_return"] for p in again["curve"]]
    assert first["final"]["returns"] == again["final"]["returns"]
    assert first["final"]["returns"] != other["final"]["returns"]
    saved = json.loads(open(first["path"]).read())
    assert saved["schema"] == "madata.results" and saved["schema_version"] == 1
    assert saved["dataset"]["checksums"] and saved["final"]["update"] == 4 and len(saved["curve"]) == 2
    assert saved["normalized_available"] is (saved["final"]["normalized"] is not None)
    rerun = evaluate_checkpoint(str(tmp_path / "a" / "mpe-spread-3" / "random-v1" / "omar[batch_size=32]" / "seed_3.pt"),
                                episodes=2)
    assert rerun["returns"] == first["final"]["returns"]


def test_report_gives_mean_std_and_iqm_with_interval(tmp_path):
    from baselines.report import markdown_report, stratified_bootstrap_ci, iqm
    scores = np.array([10.0, 12.0, 50.0, 11.0, 13.0])
    low, high = stratified_bootstrap_ci(scores, reps=500)
    assert low <= iqm(scores) <= high
    assert iqm(scores) == pytest.approx(np.mean([11.0, 12.0, 13.0]), abs=1.5)
    results = []
    for seed, (ret, norm) in enumerate([(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)]):
        results.append({"schema": "madata.results", "schema_version": 1, "label": "omar", "seed": seed, "updates": 5,
                        "dataset": {"id": SPREAD, "scenario": "mpe-spread-3"},
                        "final": {"mean_return": ret, "normalized": norm}, "curve": []})
    table = markdown_report(results, reps=200)
    assert "| mpe-spread-3/random-v1 | omar | 3 | 5 | 20.0 ± 8.2 |" in table
    for result in results:
        result["final"]["normalized"] = None
    assert "n/a (no reference scores)" in markdown_report(results, reps=200)


def test_presets_follow_the_paper_and_the_released_code():
    paper, _ = build_config("omar", "mpe-spread-3/medium-replay-v1", "paper")
    assert paper.tau == 0.5 and paper.gamma == 0.99 and paper.batch_size == 1024 and paper.cql_weight == 1.0
    released, _ = build_config("omar", "mpe-spread-3/expert-v1", "released-code")
    assert released.gamma == 0.95 and released.tau == 1.0 and released.policy_noise == 0.0
    assert released.cql_policy_actions == 0 and released.input_batchnorm and released.actor_l2 == 1e-3
    cheetah, _ = build_config("macql", "halfcheetah-2x3/medium-v1", "released-code")
    assert cheetah.gamma == 0.99 and cheetah.cql_weight == 1.0
    config, _ = build_config("omar", "mpe-spread-3/expert-v1", "paper", "centralized", ["tau=0.25", "hidden=32,32"])
    assert config.tau == 0.25 and config.hidden == (32, 32) and config.critic == "centralized"


def test_replay_bootstraps_truncated_episode_ends(spread_replay):
    dataset, replay = spread_replay
    transitions = dataset.transitions()
    last = int(dataset.episode_ends[0]) - 1
    assert dataset.truncations[last].all() and not transitions["dones"][last].any()
    assert np.array_equal(transitions["next_observations"][last], dataset.final_observations[0])
    assert replay.has_next_action[last].sum() == 0 and replay.has_next_action[last - 1].sum() == 3


@pytest.mark.parametrize("call,message", [
    (lambda: build_config("sac", SPREAD), "unknown algorithm"),
    (lambda: build_config("omar", SPREAD, overrides=["taux=1"]), "unknown hyperparameter 'taux'"),
    (lambda: build_config("omar", SPREAD, overrides=["tau=high"]), "expected float"),
    (lambda: build_config("omar", SPREAD, overrides=["tau=2"]), "tau must be in [0, 1]"),
    (lambda: build_config("omar", SPREAD, overrides=["sampler=grid"]), "unknown sampler"),
    (lambda: build_config("bc", SPREAD, critic="centralized"), "no centralized-critic variant"),
    (lambda: build_config("omar", SPREAD, preset="best"), "unknown preset"),
    (lambda: build_config("omar", "mpe-spread-3/great-v1"), "unknown quality"),
])
def test_bad_input_raises_one_line_errors(call, message):
    with pytest.raises(MadataError) as error:
        call()
    assert message in str(error.value) and "\n" not in str(error.value)


def test_cli_reports_bad_input_in_one_line_with_exit_2(store, tmp_path):
    from click.testing import CliRunner
    from madatasets.cli import cli
    runner = CliRunner()
    cases = [
        ["bench", "omar", "--dataset", "mpe-spread-3/expert-v1", "--store", store, "--steps", "1"],
        ["bench", "omar", "--dataset", SPREAD, "--store", store, "--set", "nonsense"],
        ["evaluate", str(tmp_path / "missing.pt")],
        ["report", str(tmp_path)],
    ]
    bogus = tmp_path / "bogus.pt"
    bogus.write_text("not a checkpoint")
    cases.append(["evaluate", str(bogus)])
    for args in cases:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(args=args, prog_name="madata")
        assert exit_info.value.code == 2, args
