"""The run writer and `report`: pairs written together, each run counted once, budgets apart, incomplete benches."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from baselines import bench as bench_module
from baselines.bench import RunSpec, bench
from baselines.report import markdown_report, summarize
from baselines.results import load_manifests, load_results, write_run
from madatasets.cli import cli
from madatasets.errors import MadataError

from conftest import random_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SPREAD = "mpe-spread-3/random-v1"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return random_store(tmp_path_factory, steps=200)


def spec(store: str, out: str, seed: int, updates: int = 2) -> RunSpec:
    return RunSpec("bc", SPREAD, seed=seed, updates=updates, eval_every=updates, eval_episodes=1,
                   overrides=("batch_size=16",), out_dir=out, store=store, progress=False)


@pytest.fixture(scope="module")
def finished(store, tmp_path_factory):
    """Two finished seeds of one configuration, and (in another folder) one seed of it with another budget."""
    out, longer = str(tmp_path_factory.mktemp("runs")), str(tmp_path_factory.mktemp("longer"))
    bench([spec(store, out, 0), spec(store, out, 1)])
    bench([spec(store, longer, 0, updates=3)])
    return out, longer


def test_report_counts_each_run_once_and_keeps_budgets_apart(finished):
    out, longer = finished
    results = load_results([out, out, longer])
    assert len(results) == 3
    rows = summarize(results, reps=100, requested=load_manifests([out, out, longer]))
    assert [(row["updates"], row["runs"], row["seeds"]) for row in rows] == [(2, 2, [0, 1]), (3, 1, [0])]
    output = CliRunner().invoke(cli, ["report", out, out, longer, "--reps", "100"])
    assert output.exit_code == 0, output.output
    lines = [line for line in output.output.splitlines() if line.startswith(f"| {SPREAD} ")]
    assert len(lines) == 2 and "| 2 | 2 |" in lines[0] and "| 1 | 3 |" in lines[1]
    assert "incomplete" not in output.output


def test_a_killed_multi_seed_bench_is_reported_incomplete(store, tmp_path, monkeypatch):
    real = bench_module.train_run
    calls = []

    def killed_after_the_first_seed(run: RunSpec):
        if calls:
            raise KeyboardInterrupt          # what Ctrl-C or a kill does to the remaining seeds
        calls.append(run.seed)
        return real(run)
    monkeypatch.setattr(bench_module, "train_run", killed_after_the_first_seed)
    with pytest.raises(KeyboardInterrupt):
        bench([spec(store, str(tmp_path), seed) for seed in (0, 1, 2)])
    table = markdown_report(load_results([str(tmp_path)]), reps=100, requested=load_manifests([str(tmp_path)]))
    assert "| 1 of 3 (incomplete) |" in table


def test_unreadable_results_files_are_an_error_naming_them(finished, tmp_path):
    broken = tmp_path / "broken" / "seed_9.json"
    broken.parent.mkdir()
    broken.write_text('{"schema": "madata.results", ')
    with pytest.raises(MadataError, match="seed_9.json is not readable JSON"):
        load_results([finished[0], str(tmp_path)])
    output = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert output.exit_code == 2 and "seed_9.json" in output.output and "Traceback" not in output.output


def test_a_run_is_written_as_a_pair_and_a_crash_never_leaves_an_old_json_beside_a_new_checkpoint(tmp_path,
                                                                                                   monkeypatch):
    written = write_run(tmp_path, 0, {"label": "old"}, {"policy": {}})
    saved = json.loads(written.read_text())
    import hashlib
    assert saved["checkpoint_sha256"] == hashlib.sha256((tmp_path / "seed_0.pt").read_bytes()).hexdigest()
    real_replace = os.replace

    def crash_before_the_json(source, target):
        if str(target).endswith(".json"):
            raise OSError("killed")
        real_replace(source, target)
    monkeypatch.setattr(os, "replace", crash_before_the_json)
    with pytest.raises(OSError):
        write_run(tmp_path, 0, {"label": "new"}, {"policy": {"weight": 1}})
    assert not written.exists()          # the new checkpoint is there, so the old results are gone


def test_version_1_checkpoints_still_evaluate_to_their_final_returns(finished, tmp_path):
    """Version 1 kept the joint setting's actor and input statistics only; version 2 the whole state_dict."""
    import torch
    from baselines.checkpoints import evaluate_checkpoint
    checkpoint_path = sorted(Path(finished[0]).rglob("seed_0.pt"))[0]
    results = json.loads(checkpoint_path.with_suffix(".json").read_text())
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    policy = checkpoint["policy"]
    old = {**checkpoint, "format_version": 1,
           "policy": {"actor": {k[len("actor."):]: v for k, v in policy.items() if k.startswith("actor.")},
                      "obs_mean": policy["obs_mean"], "obs_std": policy["obs_std"]}}
    torch.save(old, tmp_path / "old.pt")
    rerun = evaluate_checkpoint(tmp_path / "old.pt", episodes=results["eval_episodes"])
    assert rerun["returns"] == results["final"]["returns"]
