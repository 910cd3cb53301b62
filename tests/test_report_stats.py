"""madata report: rliable aggregates with stratified-bootstrap CIs, plots, marl-eval / csv / latex."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from rliable import metrics

from baselines.aggregate import interval_estimates, probability_of_improvement, score_matrices
from madatasets.cli import cli

from suite_helpers import tiny_suite


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(cli, ["bench", "itd3", "--suite", str(tiny_suite(root / "suites")), "--store",
                                      str(root / "store"), "--out", str(root / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    return str(root / "out")


def test_points_are_rliables_and_the_bootstrap_is_stratified():
    rng = np.random.default_rng(1)
    scores = np.column_stack([rng.normal(10, 5, 7), rng.normal(80, 5, 7), rng.normal(40, 5, 7)])
    estimates = interval_estimates({"a": scores}, reps=300)["a"]
    assert estimates["iqm"][0] == pytest.approx(metrics.aggregate_iqm(scores))
    assert estimates["median"][0] == pytest.approx(metrics.aggregate_median(scores))
    assert estimates["optimality_gap"][0] == pytest.approx(100 * metrics.aggregate_optimality_gap(scores / 100, 1))
    for point, low, high in estimates.values():
        assert low <= point <= high
    # Within-task resampling keeps every task's runs: with constant tasks the mean cannot move at all,
    # where a bootstrap that pooled tasks would.
    constant = np.array([[0.0, 50.0, 100.0]] * 5)
    point, low, high = interval_estimates({"c": constant}, reps=200)["c"]["mean"]
    assert low == high == point == pytest.approx(50.0)


def test_probability_of_improvement():
    better, worse = np.full((5, 2), 60.0) + np.arange(5)[:, None], np.full((5, 2), 20.0) + np.arange(5)[:, None]
    assert probability_of_improvement(better, worse, reps=200) == (1.0, 1.0, 1.0)
    assert probability_of_improvement(worse, better, reps=200)[0] == 0.0
    same = probability_of_improvement(better, better, reps=200)
    assert same[0] == pytest.approx(0.5) and same[1] <= 0.5 <= same[2]


def test_markdown_aggregates_and_plots(results_dir, tmp_path):
    prefix = str(tmp_path / "agg")
    result = CliRunner().invoke(cli, ["report", results_dir, "--reps", "200", "--plots", prefix,
                                      "--improvement", "itd3 @20", "bc @20"])
    assert result.exit_code == 0, result.output
    assert "Aggregates over the 2 datasets" in result.output
    assert "| bc @20 | 2 x 2 |" in result.output and "P(itd3 @20 > bc @20) = " in result.output
    from PIL import Image
    for name in ("intervals", "profiles", "sample-efficiency"):
        with Image.open(f"{prefix}-{name}.png") as image:
            assert image.size[0] > 300 and len(set(image.convert("L").getdata())) > 10   # drawn, not blank
    bad = CliRunner().invoke(cli, ["report", results_dir, "--improvement", "omar @20", "bc @20"])
    assert bad.exit_code == 2 and "no configuration 'omar @20'" in bad.output and "'bc @20'" in bad.output


def test_marl_eval_csv_and_latex(results_dir, tmp_path):
    out = tmp_path / "me.json"
    result = CliRunner().invoke(cli, ["report", results_dir, "--format", "marl-eval", "--output", str(out)])
    assert result.exit_code == 0, result.output
    tree = json.loads(out.read_text())
    run = tree["mpe-spread-3"]["random-v1"]["bc@20"]["seed_1"]
    assert [run[k]["step_count"] for k in ("step_0", "step_1")] == [10, 20]
    assert len(run["absolute_metrics"]["return"]) == 4
    final = json.loads(next(p for p in __import__("pathlib").Path(results_dir).rglob("seed_1.json")
                            if "/random-v1/bc/" in str(p)).read_text())["final"]
    assert run["absolute_metrics"]["return"] == final["returns"]
    assert np.mean(run["absolute_metrics"]["normalized_return"]) == pytest.approx(final["normalized"])
    table = CliRunner().invoke(cli, ["report", results_dir, "--format", "csv", "--reps", "100"]).output
    rows = list(csv.DictReader(io.StringIO(table)))
    assert len(rows) == 4 and {r["algorithm"] for r in rows} == {"bc", "itd3"}
    assert all(float(r["iqm_low"]) <= float(r["iqm"]) <= float(r["iqm_high"]) for r in rows)
    latex = CliRunner().invoke(cli, ["report", results_dir, "--format", "latex", "--reps", "100"]).output
    assert r"\toprule" in latex and r"mpe-spread-3/random-v1 & itd3 & 20 & 2 &" in latex
    bad = CliRunner().invoke(cli, ["report", results_dir, "--format", "xml"])
    assert bad.exit_code == 2 and "markdown" in bad.output


def test_score_matrices_leave_out_configurations_missing_a_task(results_dir):
    from baselines.results import load_results
    results = [r for r in load_results([results_dir])
               if not (r["label"] == "itd3" and r["dataset"]["id"].endswith("medium-v1"))]
    matrices, tasks = score_matrices(results)
    assert list(matrices) == ["bc @20"] and matrices["bc @20"].shape == (2, 2) and len(tasks) == 2
