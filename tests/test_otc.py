"""OTC: rank-based prioritization, best-match search, adaptive alpha (Eq. 9), the deployment protocol."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from baselines.core.vae import StackedConditionalVAE
from baselines.otc import (OTCConfig, OTCRunSpec, Variant, collect_online, merge, online_reset_seeds, run_otc,
                           variants)
from baselines.otc.sampling import (AdaptiveAlpha, best_match, embedding_similarity, rank_probabilities, ranks,
                                    value_similarity)
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec, make

DATASET = "walker2d-2x3/random-v1"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from collectors.collect import collect
    root = tmp_path_factory.mktemp("otc") / "store"
    collect("walker2d-2x3", "random", steps=400, store=root, progress=False)
    return str(root)


# -- Eq. 8 --------------------------------------------------------------------------------
def test_rank_probabilities_sum_to_one_and_fall_with_distance():
    distances = torch.rand(3, 200, generator=torch.Generator().manual_seed(0))
    probabilities = rank_probabilities(distances, torch.tensor([0.5, 1.0, 2.0]))
    assert torch.allclose(probabilities.sum(dim=-1), torch.ones(3, dtype=probabilities.dtype))
    for row in range(3):
        order = torch.argsort(distances[row])
        ordered = probabilities[row, order]
        assert (ordered[1:] < ordered[:-1]).all()            # more similar (smaller distance) -> more likely
    # p_j = 1 / rank(j): the most similar transition has probability 1 / sum_m (1/m)^alpha.
    expected = 1.0 / (1.0 / torch.arange(1, 201, dtype=torch.float64)).sum()
    assert probabilities[1].max().item() == pytest.approx(expected.item(), rel=1e-5)
    # A larger alpha concentrates more mass on the most similar transitions.
    assert probabilities[2].max() > probabilities[1].max() > probabilities[0].max()


def test_alpha_zero_gives_uniform_sampling():
    distances = torch.rand(2, 64, generator=torch.Generator().manual_seed(1))
    probabilities = rank_probabilities(distances, 0.0)
    assert torch.allclose(probabilities, torch.full_like(probabilities, 1.0 / 64))


def test_ranks_are_a_permutation_starting_at_one_for_the_smallest():
    distances = torch.tensor([[0.3, 0.1, 0.7, 0.2]])
    assert ranks(distances).tolist() == [[3.0, 1.0, 4.0, 2.0]]
    with pytest.raises(MadataError):
        rank_probabilities(distances, -1.0)


# -- Eq. 2 ----------------------------------------------------------------------------------
def test_best_match_returns_the_exact_match_when_present():
    generator = torch.Generator().manual_seed(2)
    keys = torch.randn(2, 300, 10, generator=generator)
    picks = torch.stack([torch.randperm(300, generator=generator)[:40] for _ in range(2)])
    queries = keys.gather(1, picks.unsqueeze(-1).expand(-1, -1, 10))
    index, distance = best_match(queries, keys)
    assert torch.equal(index, picks)
    assert torch.all(distance == 0)
    # Slightly moved queries still find their source among well-separated keys.
    index, distance = best_match(queries + 1e-4, keys)
    assert torch.equal(index, picks) and (distance > 0).all()


def test_embedding_similarity_is_zero_for_transitions_present_online():
    torch.manual_seed(3)
    vae = StackedConditionalVAE(2, 2 * 5, 3, latent_dim=10)
    generator = torch.Generator().manual_seed(3)
    offline = tuple(torch.randn(2, 50, d, generator=generator) for d in (5, 3, 5))
    online = tuple(torch.cat([x[:, :10], torch.randn(2, 30, x.shape[-1], generator=generator)], dim=1)
                   for x in offline)
    similarity = embedding_similarity(vae, offline, online)
    assert similarity.shape == (2, 50)
    assert torch.allclose(similarity[:, :10], torch.zeros(2, 10), atol=1e-5)
    assert (similarity[:, 10:] > 0).all()


def test_value_similarity_matches_by_q_then_compares_value_ratios():
    offline_q = torch.tensor([[1.0, 5.0]])
    online_q = torch.tensor([[4.9, 1.1, 10.0]])
    offline_ratio = torch.tensor([[2.0, 3.0]])
    online_ratio = torch.tensor([[2.5, 1.0, 0.0]])
    # Row 0 matches online 1 (|1 - 1.1|), row 1 matches online 0 (|5 - 4.9|).
    assert torch.allclose(value_similarity(offline_q, offline_ratio, online_q, online_ratio),
                          torch.tensor([[1.0, 0.5]]))


# -- Eq. 9 ----------------------------------------------------------------------------------
def test_adaptive_alpha_follows_eq9():
    alpha = AdaptiveAlpha(2, initial=1.0)
    assert alpha.step(torch.tensor([2.0, 4.0])).tolist() == [1.0, 1.0]        # k = 1: no adjustment
    assert alpha.step(torch.tensor([1.0, 8.0])).tolist() == [0.5, 2.0]        # alpha * Dbar^2 / Dbar^1
    assert alpha.step(torch.tensor([3.0, 8.0])).tolist() == pytest.approx([1.5, 2.0])
    fixed = AdaptiveAlpha(2, initial=1.2, fixed=True)
    fixed.step(torch.tensor([2.0, 4.0]))
    assert fixed.step(torch.tensor([1.0, 8.0])).tolist() == [1.2, 1.2]


# -- the protocol ---------------------------------------------------------------------------------
def test_online_data_holds_only_each_agents_own_actions():
    spec = get_spec("walker2d-2x3")
    marks = np.array([0.25, -0.5], dtype=np.float32)

    def act(observations: np.ndarray, states: np.ndarray) -> np.ndarray:
        # Agent i always plays marks[i] in every one of its action dimensions.
        return np.broadcast_to(marks[:, None, None], (2, observations.shape[1], spec.act_dim)).copy()

    envs = [make("walker2d-2x3") for _ in range(2)]
    datasets, info = collect_online(envs, act, 37, online_reset_seeds(0), spec.n_agents)
    for env in envs:
        env.close()
    for i, data in enumerate(datasets):
        assert len(data) == 37 and data.agent_index == i
        assert data.actions.shape == (37, spec.act_dim)
        assert np.all(data.actions == marks[i])                     # its own actions, never the other agent's
        assert not hasattr(data, "joint_actions")
        assert data.episode_ends[-1] == 37
    assert np.array_equal(datasets[0].states, datasets[1].states)   # same joint steps, seen by both agents
    # Merging B^0 and D^1 keeps agent i's rows only, in order.
    merged = merge(datasets[0], datasets[0])
    assert len(merged) == 74 and merged.episode_ends[-1] == 74
    with pytest.raises(MadataError):
        merge(datasets[0], datasets[1])


def tiny_spec(store: str, out: str, chosen: tuple[Variant, ...], backbone: str = "bcq") -> OTCRunSpec:
    overrides = ("vae_updates=5",) if backbone in ("bcq", "mabcq") else ()
    return OTCRunSpec(dataset_id=DATASET, backbone=backbone, variants=chosen, seed=0, updates=5, eval_episodes=1,
                      overrides=overrides, store=store, out_dir=out,
                      otc=OTCConfig(deployments=2, online_steps=12, updates_per_deployment=3, embedding_updates=3,
                                    balanced_classifier_updates=2, alpha_estimate_batches=2))


def test_two_deployment_run_records_k_times_m_online_steps(store, tmp_path):
    chosen = tuple(variants(["otc", "uniform", "online-only", "balanced"], ["embedding", "value"]))
    results = run_otc(tiny_spec(store, str(tmp_path / "a"), chosen))
    assert [r["otc"]["sampling"] for r in results] == ["otc", "otc", "uniform", "online-only", "balanced"]
    for result in results:
        info = result["otc"]
        assert (info["K"], info["M"], info["L"]) == (2, 12, 3)
        assert info["online_steps_used"] == 2 * 12
        assert [p["deployment"] for p in result["curve"]] == [0, 1, 2]
        assert [p["online_steps"] for p in result["curve"]] == [0, 12, 24]
        assert len(info["normalized_after_deployment"]) == 3
        assert result["updates"] == 5 + 2 * 3
        saved = json.loads(open(result["path"]).read())
        assert saved["final"]["mean_return"] == result["final"]["mean_return"]
    alphas = [d["alpha"] for d in results[0]["otc"]["deployments"]]
    assert alphas[0] == [1.0, 1.0] and len(alphas) == 2
    # The same seed and command give the same numbers; a variant does not depend on its companions.
    alone = run_otc(tiny_spec(store, str(tmp_path / "b"), (Variant("uniform"),)))
    assert alone[0]["final"]["returns"] == results[2]["final"]["returns"]
    assert alone[0]["otc"]["return_after_deployment"] == results[2]["otc"]["return_after_deployment"]
    # `madata report` reads the files.
    from baselines.report import markdown_report
    from baselines.results import load_results
    table = markdown_report(load_results([str(tmp_path / "a")]), reps=100)
    assert "otc[bcq,embedding,K2,M12,L3,vae_updates=5]" in table


def test_awac_backbone_tunes_with_the_value_distance(store, tmp_path):
    results = run_otc(tiny_spec(store, str(tmp_path), (Variant("otc", "value"),), backbone="awac"))
    assert results[0]["otc"]["online_steps_used"] == 24 and results[0]["backbone"] == "awac"
    assert np.isfinite(results[0]["final"]["mean_return"])


def test_default_budgets_follow_the_paper():
    config = OTCConfig().resolved("bcq", 100_000)
    assert (config.deployments, config.online_steps, config.updates_per_deployment) == (10, 1000, 4000)
    assert OTCConfig().resolved("awac", 100_000).updates_per_deployment == 2000
    with pytest.raises(MadataError):
        Variant("otc", "cosine")
    with pytest.raises(MadataError):
        OTCConfig(online_steps=0).validate()


def madata(*args):
    return subprocess.run([sys.executable, "-m", "madatasets.cli", *args], capture_output=True, text=True)


def test_cli_runs_otc_and_rejects_bad_input(store, tmp_path):
    ok = madata("bench", "otc", "--dataset", DATASET, "--store", store, "--seeds", "1", "--steps", "3",
                "--eval-episodes", "1", "--deployments", "2", "--online-steps", "5", "--updates-per-deployment", "2",
                "--sampling", "uniform", "--set", "vae_updates=2", "--out", str(tmp_path), "--quiet")
    assert ok.returncode == 0, ok.stderr
    assert "online steps 10" in ok.stdout
    # The flags of the last release still work and say what replaces them.
    assert "--deployments is deprecated; use --set deployments=2" in ok.stderr
    assert "--steps is now --updates" in ok.stderr
    for args, expected in [(["--backbone", "dqn"], "--backbone"),
                           (["--otc-set", "deployment=3"], "unknown hyperparameter"),
                           (["--critic", "centralized"], "decentralized")]:
        bad = madata("bench", "otc", "--dataset", DATASET, "--store", store, *args)
        assert bad.returncode == 2 and expected in bad.stderr and "Traceback" not in bad.stderr
    wrong = madata("bench", "bcq", "--dataset", DATASET, "--store", store, "--deployments", "3")
    assert wrong.returncode == 2 and "bench otc" in wrong.stderr
