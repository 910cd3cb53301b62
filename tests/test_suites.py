"""Suites as package data and `madata bench ALGORITHM` without --dataset (the default suite)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from baselines.suites import DEFAULT_SUITE, load_suite, suite_names
from madatasets.cli import cli
from madatasets.errors import MadataError

from suite_helpers import tiny_suite


def test_packaged_suites_and_their_protocols():
    assert {"quick", "omar-paper", "mabcq-paper", "otc-paper", "smax", "full"} <= set(suite_names())
    assert DEFAULT_SUITE == "quick"
    for name in suite_names():
        suite = load_suite(name)
        assert suite.protocol.evaluation == "final" and suite.protocol.eval_episodes == 32
        assert suite.protocol.seeds >= (10 if suite.claims_results else 3)
        assert suite.setting == "online-tuning" or "bc" in suite.baselines or "bc_discrete" in suite.baselines
    omar = load_suite("omar-paper")
    assert len(omar.datasets) == 16
    # OMAR Table 3 (cooperative navigation, random) and Table 6 (HalfCheetah, expert).
    assert omar.paper_score("omar", "mpe-spread-3/random-v1") == (34.4, 5.3)
    assert omar.paper_score("macql", "mpe-world-4v2/expert-v1") == (71.9, 28.1)
    assert omar.paper_score("matd3_bc", "halfcheetah-2x3/expert-v1") == (114.4, 3.8)
    assert omar.updates_for("halfcheetah-2x3/medium-v1") == 200_000 and omar.updates_for("mpe-tag-3v1/random-v1") == 50_000
    quick = load_suite("quick")
    assert all(len(d.checksums) > 0 for d in quick.datasets)
    assert load_suite("mabcq-paper").dataset_ids[0].endswith("/mixed-v1")
    assert load_suite("otc-paper").paper_score("bcq", "hopper-3x1/medium-v1") == (1169.0, 87.0)


def test_a_suite_that_claims_results_needs_ten_seeds(tmp_path):
    path = tiny_suite(tmp_path)
    data = json.loads(path.read_text())
    data["claims_results"] = True
    path.write_text(json.dumps(data))
    with pytest.raises(MadataError, match="claims results needs at least 10 seeds"):
        load_suite(str(path))


def test_unknown_suite_is_one_line():
    result = CliRunner().invoke(cli, ["bench", "bc", "--suite", "nope"])
    assert result.exit_code == 2
    assert "unknown suite 'nope'; valid: full, mabcq-paper" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.fixture(autouse=True)
def no_remotes(monkeypatch):
    """No remote configured unless a test sets one (a developer's config file never leaks in)."""
    monkeypatch.delenv("MADATA_REMOTE", raising=False)
    monkeypatch.setenv("MADATA_CONFIG", "/nonexistent/madata-config.json")


def test_bench_without_dataset_runs_the_default_suite(tmp_path, monkeypatch):
    import baselines.suites as suites
    store, out = tmp_path / "store", tmp_path / "out"
    suite_file = str(tiny_suite(tmp_path / "suites"))
    monkeypatch.setattr(suites, "DEFAULT_SUITE", suite_file)
    arguments = ["bench", "itd3", "--store", str(store), "--out", str(out), "--quiet"]
    first = CliRunner().invoke(cli, arguments)
    assert first.exit_code == 0, first.output
    assert "collecting mpe-spread-3/random-v1 (200 steps, seed 0): madata collect mpe-spread-3 --quality random --env-steps 200 --seed 0 --version 1" in first.output
    assert "8 runs: 0 complete already, 8 to run" in first.output       # itd3 and BC, 2 datasets x 2 seeds
    assert "IQM" in first.output and "optimality gap" in first.output
    table = [line for line in first.output.splitlines() if line.startswith("| mpe-spread-3/random-v1 |")]
    assert [line.split(" | ")[1] for line in table] == ["bc", "itd3"]
    cells = [cell.strip() for cell in table[1].strip(" |").split(" | ")]
    assert cells[6] == "12.5 ± 1.5"                                     # the paper's number beside ours
    run_files = sorted((out / "mpe-spread-3" / "random-v1" / "itd3").glob("seed_*.json"))
    best = [max(p["normalized"] for p in json.loads(f.read_text())["curve"]) for f in run_files]
    assert cells[7] == f"{sum(best) / len(best):.1f}"                   # the best evaluation: an extra only
    run = json.loads((out / "mpe-spread-3" / "random-v1" / "itd3" / "seed_1.json").read_text())
    assert run["suite"] == {"name": "tiny", "version": 1, "on_protocol": True, "deviations": []}
    assert run["updates"] == 20 and run["eval_episodes"] == 4 and run["config"]["batch_size"] == 32
    assert len(run["final"]["returns"]) == 4 and run["final"]["update"] == 20
    again = CliRunner().invoke(cli, arguments)
    assert "8 runs: 8 complete already, 0 to run" in again.output
    # Off the protocol: labelled in the folder, the results and the table; the on-protocol runs stay.
    before = (out / "mpe-spread-3" / "random-v1" / "itd3" / "seed_0.json").read_bytes()
    off = CliRunner().invoke(cli, arguments + ["--suite", suite_file, "--updates", "10", "--dataset", "mpe-spread-3/random-v1",
                                               "--seed", "0"])
    assert off.exit_code == 0, off.output
    assert "off-protocol: updates 10 (protocol 20)" in off.output and "| itd3[off-protocol] |" in off.output
    record = json.loads((out / "mpe-spread-3" / "random-v1" / "itd3[off-protocol]" / "seed_0.json").read_text())
    assert record["suite"]["on_protocol"] is False and "seeds 0 (protocol 0..1)" in record["suite"]["deviations"]
    assert (out / "mpe-spread-3" / "random-v1" / "itd3" / "seed_0.json").read_bytes() == before


def test_data_that_differs_from_the_pinned_checksums_runs_only_off_protocol(tmp_path):
    # A collection on another CPU differs from the pins (BLAS kernels): bench runs on it, labelled,
    # never as the suite's; pinning and the leaderboard's re-runs refuse it.
    store = tmp_path / "store"
    from collectors.collect import collect
    for dataset_id in ("mpe-spread-3/random-v1", "mpe-spread-3/medium-v1"):
        scenario, rest = dataset_id.split("/")
        collect(scenario, rest.rsplit("-v", 1)[0], steps=200, store=store, progress=False)
    path = tiny_suite(tmp_path / "suites", str(store))
    data = json.loads(path.read_text())
    first = next(iter(data["datasets"][0]["checksums"]))
    data["datasets"][0]["checksums"][first] = "0" * 64
    path.write_text(json.dumps(data))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["bench", "bc", "--suite", str(path), "--store", str(store), "--out", str(out),
                                      "--updates", "20", "--seed", "0", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "mpe-spread-3/random-v1 in" in result.output and "is not the pinned data" in result.output
    assert "mpe-spread-3/medium-v1 in" not in result.output                  # the other one matches its pins
    assert "| bc[off-protocol] |" in result.output and "| bc |" not in result.output
    record = json.loads((out / "mpe-spread-3" / "random-v1" / "bc[off-protocol]" / "seed_0.json").read_text())
    assert record["suite"]["on_protocol"] is False
    assert "mpe-spread-3/random-v1 not the pinned data" in record["suite"]["deviations"]
    from baselines.suite_bench import ensure_datasets
    with pytest.raises(MadataError, match="differs from the data suite tiny@1 pins"):
        ensure_datasets(load_suite(str(path)), ["mpe-spread-3/random-v1"], str(store), echo=print)


def test_a_suite_dataset_a_remote_has_is_downloaded_not_collected(tmp_path, monkeypatch):
    from collectors.collect import collect
    from madatasets.hub.publish import publish
    from madatasets.store import Store
    source, remote = tmp_path / "source", tmp_path / "remote"
    collect("mpe-spread-3", "random", steps=200, store=source, progress=False)
    publish("mpe-spread-3/random-v1", str(remote), source)
    monkeypatch.setenv("MADATA_REMOTE", str(remote))
    suite = tiny_suite(tmp_path / "suites")
    store = tmp_path / "store"
    result = CliRunner().invoke(cli, ["bench", "bc", "--suite", str(suite), "--store", str(store), "--out",
                                      str(tmp_path / "out"), "--quiet", "--seed", "0"])
    assert result.exit_code == 0, result.output
    assert "downloading mpe-spread-3/random-v1: madata download mpe-spread-3/random-v1" in result.output
    assert "mpe-spread-3/medium-v1 is not on the remote" in result.output          # the remote lacks it
    assert "collecting mpe-spread-3/medium-v1 (200 steps, seed 0)" in result.output
    assert "collecting mpe-spread-3/random-v1" not in result.output
    assert Store(store).card("mpe-spread-3/random-v1")["checksums"] == \
        Store(source).card("mpe-spread-3/random-v1")["checksums"]


def test_pinning_the_quick_suite_again_from_a_fresh_store_gives_its_pins(tmp_path):
    # Collection is seeded and byte-identical, so re-pinning from scratch reproduces the packaged pins.
    from benchmarks.pin_suite import pinned_suite
    from baselines.suites import SUITE_DIR
    document = pinned_suite("quick", str(tmp_path / "store"))
    packaged = json.loads((SUITE_DIR / "quick.json").read_text())
    assert [d["checksums"] for d in document["datasets"]] == [d["checksums"] for d in packaged["datasets"]]
    assert all(set(d["checksums"]) >= {"observations", "actions", "rewards"} for d in document["datasets"])
    for pinned, ours in zip(packaged["datasets"], document["datasets"]):
        assert ours["reference_scores"] == pytest.approx(pinned["reference_scores"])
