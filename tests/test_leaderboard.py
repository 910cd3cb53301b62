"""madata leaderboard: submission validation, the static site in headless Chromium, verify by re-running."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from leaderboard.cli import ENTRIES

from suite_helpers import TINY_DATASETS, madata_cli, tiny_suite

cli = madata_cli()


def invoke(*arguments: str):
    return CliRunner().invoke(cli, list(arguments))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A store with the tiny suite's data, the suite (checksums pinned), and a valid submission of bc."""
    root = tmp_path_factory.mktemp("leaderboard")
    store = root / "store"
    from collectors.collect import collect
    for dataset_id in TINY_DATASETS:
        scenario, rest = dataset_id.split("/")
        collect(scenario, rest.rsplit("-v", 1)[0], steps=200, store=store, progress=False)
    suites = root / "suites"
    tiny_suite(suites, str(store))
    result = invoke("bench", "bc", "--suite", str(suites / "tiny.json"), "--store", str(store), "--out",
                    str(root / "out"), "--quiet")
    assert result.exit_code == 0, result.output
    result = invoke("leaderboard", "new", str(root / "out"), "--label", "bc", "--suite", "tiny", "--name", "test-bc",
                    "--out", str(root / "submission"), "--author", "Tester", "--code-url", "https://example.org/tester/bc",
                    "--suites", str(suites))
    assert result.exit_code == 0, result.output
    return {"root": root, "store": str(store), "suites": str(suites), "submission": root / "submission"}


def test_setup_declares_the_leaderboard_commands():
    import configparser
    parser = configparser.ConfigParser()
    parser.read(Path(__file__).parents[1] / "setup.cfg")
    assert "leaderboard = leaderboard.cli:COMMANDS" in parser["options.entry_points"]["madata.commands"]


def copy(world, tmp_path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(world["submission"], target)
    return target


def submit(world, path: Path, *extra: str):
    return invoke("leaderboard", "submit", str(path), "--suites", world["suites"], *extra)


def test_the_shipped_entries_are_valid():
    entries = sorted(p for p in ENTRIES.iterdir() if (p / "submission.json").is_file())
    assert {p.name for p in entries} >= {"madata-bc-quick", "madata-omar-quick"}
    for path in entries:
        result = invoke("leaderboard", "submit", str(path))
        assert result.exit_code == 0, result.output


def test_a_valid_submission_is_accepted(world, tmp_path):
    result = submit(world, world["submission"], "--accept", "--entries", str(tmp_path / "entries"))
    assert result.exit_code == 0, result.output
    assert "valid submission test-bc to suite tiny@1 (4 runs" in result.output
    assert (tmp_path / "entries" / "test-bc" / "submission.json").is_file()


def problems(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("madata: error: ")]


def test_every_problem_is_one_line_and_exit_2(world, tmp_path):
    path = copy(world, tmp_path)
    manifest = json.loads((path / "submission.json").read_text())
    manifest["datasets"][0]["checksums"][sorted(manifest["datasets"][0]["checksums"])[0]] = "0" * 64
    manifest["seeds"] = [0, 1, 2]
    (path / "submission.json").write_text(json.dumps(manifest))
    runs = sorted((path / "results").rglob("seed_*.json"))
    tampered = json.loads(runs[0].read_text())
    tampered["final"]["returns"][0] += 1.0                    # no longer what the mean was computed from
    runs[0].write_text(json.dumps(tampered))
    off = json.loads(runs[1].read_text())
    off["eval_episodes"] = 3
    runs[1].write_text(json.dumps(off))
    runs[2].with_suffix(".pt").write_bytes(b"not the checkpoint")
    result = submit(world, path, "--accept", "--entries", str(tmp_path / "entries"))
    assert result.exit_code == 2
    lines = problems(result)
    expected = ["card checksums differ from suite tiny@1's", "seeds [0, 1, 2]; suite tiny@1 requires seeds 0..1",
                "do not recompute from its returns", "eval_episodes 3; suite tiny@1 requires 4",
                "does not match the sha256 its results record", "0 runs of mpe-spread-3/medium-v1 seed 2"]
    for text in expected:
        assert sum(text in line for line in lines) >= 1, (text, lines)
    assert not (tmp_path / "entries").exists()               # nothing accepted, nothing half-written


def test_schema_problems_name_the_field(world, tmp_path):
    path = copy(world, tmp_path)
    manifest = json.loads((path / "submission.json").read_text())
    del manifest["authors"]
    manifest["code"]["commit"] = "not-a-commit"
    (path / "submission.json").write_text(json.dumps(manifest))
    lines = problems(submit(world, path))
    assert any("at /: 'authors' is a required property" in line for line in lines), lines
    assert any("at /code/commit:" in line for line in lines), lines
    assert len(lines) == 2


def test_an_off_protocol_or_non_final_run_is_refused(world, tmp_path):
    path = copy(world, tmp_path)
    run_path = sorted((path / "results").rglob("seed_0.json"))[0]
    run = json.loads(run_path.read_text())
    run["suite"] = {**run["suite"], "on_protocol": False, "deviations": ["updates 10 (protocol 20)"]}
    run["final"]["update"] = 10                              # the best checkpoint picked, not the final one
    run_path.write_text(json.dumps(run))
    lines = problems(submit(world, path))
    assert any("labelled off-protocol (updates 10 (protocol 20))" in line for line in lines), lines
    assert any("not the final policy" in line for line in lines), lines


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_the_site_in_headless_chromium(world, tmp_path):
    entries = tmp_path / "entries"
    entries.mkdir()
    for path in sorted(p for p in ENTRIES.iterdir() if (p / "submission.json").is_file()):
        shutil.copytree(path, entries / path.name)
    shutil.copytree(world["submission"], entries / "test-bc")
    site = tmp_path / "site"
    result = invoke("leaderboard", "build", "--entries", str(entries), "--out", str(site), "--reps", "300",
                    "--suites", world["suites"])
    assert result.exit_code == 0, result.output
    assert (site / "suites" / "quick-v2.md").read_text().count("| madata-") >= 6
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary (install Debian's chromium package: apt-get install chromium)")
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    page = site / "suites" / "quick-v2.html"
    dom = subprocess.run(common + ["--virtual-time-budget=5000", "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    assert 'data-loaded="yes"' in dom                       # the page's load event ran
    widths = re.findall(r'<img[^>]*id="(intervals|profiles)"[^>]*data-natural-width="(\d+)"', dom)
    assert sorted(name for name, _ in widths) == ["intervals", "profiles"] and all(int(w) > 100 for _, w in widths)
    aggregate = re.search(r'<table id="aggregate">(.*?)</table>', dom, re.S).group(1)
    names = re.findall(r">(madata-[a-z]+-quick)</a>", aggregate)
    assert sorted(names) == sorted(p.name for p in ENTRIES.iterdir() if p.name.endswith("-quick"))
    iqm_cells = re.findall(r"<td>(-?\d+\.\d) \[(-?\d+\.\d), (-?\d+\.\d)\]</td>", aggregate)
    assert iqm_cells and all(float(lo) <= float(p) <= float(hi) for p, lo, hi in iqm_cells)
    # Every link of the suite page resolves on the filesystem (no server).
    for link in re.findall(r'href="([^"]+)"', dom):
        assert (page.parent / link).resolve().is_file(), link
    submission_dom = subprocess.run(common + ["--dump-dom", (site / "submissions" / "test-bc.html").as_uri()],
                                    capture_output=True, text=True, timeout=120).stdout
    assert "Tester" in submission_dom and "card sha256" in submission_dom
    shot = tmp_path / "artifacts" / "leaderboard-quick.png"
    shot.parent.mkdir()
    subprocess.run(common + ["--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    from PIL import Image
    with Image.open(shot) as image:
        assert image.size == (1200, 1600) and len(set(image.convert("L").getdata())) > 20


def test_build_refuses_an_invalid_entry(world, tmp_path):
    entries = tmp_path / "entries"
    shutil.copytree(world["submission"], entries / "test-bc")
    (entries / "test-bc" / "submission.json").write_text("{")
    result = invoke("leaderboard", "build", "--entries", str(entries), "--out", str(tmp_path / "site"),
                    "--suites", world["suites"])
    assert result.exit_code == 2 and "is not a valid submission" in result.output
    assert not (tmp_path / "site").exists()


def test_verify_reruns_a_seed(world, tmp_path):
    result = invoke("leaderboard", "verify", str(world["submission"]), "--seeds", "1", "--store", world["store"],
                    "--suites", world["suites"], "--tolerance", "0")
    assert result.exit_code == 0, result.output
    assert result.output.count("difference 0.000 (tolerance 0.0) ok") == 2    # seed 0 on both datasets
    # A claim edited consistently (returns, mean, std, normalized) passes submit but not verify.
    path = copy(world, tmp_path)
    run_path = next(p for p in (path / "results").rglob("seed_0.json") if "random-v1" in str(p))
    run = json.loads(run_path.read_text())
    import numpy as np
    returns = [r + 0.5 for r in run["final"]["returns"]]
    references = run["reference_scores"]
    run["final"].update(returns=returns, mean_return=float(np.mean(returns)), std_return=float(np.std(returns)),
                        normalized=100 * (float(np.mean(returns)) - references["random"]) /
                        (references["expert"] - references["random"]))
    run_path.write_text(json.dumps(run))
    assert submit(world, path).exit_code == 0
    result = invoke("leaderboard", "verify", str(path), "--store", world["store"], "--suites", world["suites"])
    assert result.exit_code == 2 and "disagree with the claim" in result.output
