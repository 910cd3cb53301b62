"""madata sweep: resumable on the local pool, and on a real local Ray head with a worker killed mid-sweep."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from madatasets.cli import cli

from conftest import random_store

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return random_store(tmp_path_factory)


def write_spec(path: Path, store: str, out: Path, updates: int = 20, seeds: int = 2, **extra) -> Path:
    spec = {"name": "t", "algorithms": ["bc"], "datasets": ["mpe-spread-3/random-v1"], "seeds": seeds,
            "updates": updates, "eval_every": updates, "eval_episodes": 2, "set": {"batch_size": 32},
            "out": str(out), "store": store, **extra}
    import yaml
    path.write_text(yaml.safe_dump(spec))
    return path


def results_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("seed_*.json"))


def test_local_sweep_is_resumable(tmp_path, store):
    out = tmp_path / "out"
    spec = write_spec(tmp_path / "s.yaml", store, out, grid={"hidden": [[8], [16]]})
    first = CliRunner().invoke(cli, ["sweep", str(spec), "--workers", "2", "--quiet"])
    assert first.exit_code == 0, first.output
    assert "4 runs, 0 complete already, 4 run now" in first.output
    files = results_files(out)
    assert len(files) == 4
    # An interrupted run (a killed worker mid-write leaves no results file, maybe a .tmp) runs again;
    # every other run is skipped and its file left untouched.
    files[0].unlink()
    files[0].with_name(files[0].name + ".tmp").write_text("{")
    before = {p: p.stat().st_mtime_ns for p in files[1:]}
    second = CliRunner().invoke(cli, ["sweep", str(spec), "--quiet"])
    assert second.exit_code == 0, second.output
    assert "4 runs, 3 complete already, 1 run now" in second.output
    assert {p: p.stat().st_mtime_ns for p in files[1:]} == before
    assert len(results_files(out)) == 4
    # A run whose file says another budget is not complete for this spec.
    data = json.loads(files[1].read_text())
    data["updates"] = 999
    files[1].write_text(json.dumps(data))
    third = CliRunner().invoke(cli, ["sweep", str(spec), "--dry-run"])
    assert third.output.count("to run") == 1 and third.output.count("complete") == 3


def test_sweep_file_errors_are_one_line(tmp_path, store):
    bad = tmp_path / "bad.yaml"
    bad.write_text("algorithms: [bc]\ndatasets: [mpe-spread-3/random-v1]\nseedz: 3\n")
    result = CliRunner().invoke(cli, ["sweep", str(bad)])
    assert result.exit_code == 2
    assert "unknown key 'seedz'; valid:" in result.output and len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(cli, ["sweep", str(write_spec(tmp_path / "s.yaml", store, tmp_path / "o")),
                                      "--address", "auto"])
    assert result.exit_code == 2 and "--address names a Ray cluster" in result.output
    assert not (tmp_path / "o").exists()       # nothing half-written


def test_a_run_that_raises_fails_and_is_named(tmp_path, store):
    spec = write_spec(tmp_path / "s.yaml", store, tmp_path / "out", datasets=["mpe-spread-3/expert-v1"])
    result = CliRunner().invoke(cli, ["sweep", str(spec), "--quiet"])
    assert result.exit_code == 2
    assert "failed: bc[batch_size=32] mpe-spread-3/expert-v1 seed 0" in result.output
    assert "2 of 2 runs failed" in result.output


def _task_processes() -> list:
    import psutil
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any("ray::_sweep_task" in part for part in process.info["cmdline"] or []):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_ray_sweep_survives_a_killed_worker(tmp_path, store, monkeypatch):
    ray = pytest.importorskip("ray")
    from baselines.sweep import RayExecutor, run_sweep
    from baselines.sweep_spec import load_sweep
    # Workers import madata from the checkout like the test process does.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parents[1]),
                                                      os.environ.get("PYTHONPATH", "")]))
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        out = tmp_path / "out"
        plan = load_sweep(write_spec(tmp_path / "s.yaml", store, out, updates=1500, seeds=4))
        outcome: dict = {}
        thread = threading.Thread(target=lambda: outcome.setdefault(
            "value", run_sweep(list(plan.runs), RayExecutor(None, 1, 0), retries=2, progress=False,
                               echo=lambda line: outcome.setdefault("lines", []).append(line))))
        thread.start()
        killed = None
        deadline = time.monotonic() + 240
        while killed is None and time.monotonic() < deadline and thread.is_alive():
            running = _task_processes()
            if running:
                killed = running[0].pid
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.05)
        thread.join(timeout=600)
        assert killed is not None, "no Ray worker was seen running a sweep task"
        result = outcome["value"]
        assert result.retried >= 1 and not result.failed, (result, outcome.get("lines"))
        assert result.completed == 4
        assert any("worker lost" in line for line in outcome["lines"])
        files = results_files(out)
        assert [p.name for p in files] == [f"seed_{s}.json" for s in range(4)]    # each run exactly once
        from baselines.results import load_results
        assert sorted(r["seed"] for r in load_results([str(out)])) == [0, 1, 2, 3]
        assert not list(out.rglob("*.tmp"))
    finally:
        ray.shutdown()


def test_local_pool_survives_a_killed_worker(tmp_path, store):
    import psutil
    from baselines.sweep import LocalExecutor, run_sweep
    from baselines.sweep_spec import load_sweep
    out = tmp_path / "out"
    plan = load_sweep(write_spec(tmp_path / "s.yaml", store, out, updates=1500, seeds=2))
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.setdefault(
        "value", run_sweep(list(plan.runs), LocalExecutor(1), retries=1, progress=False,
                           echo=lambda line: outcome.setdefault("lines", []).append(line))))
    thread.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and thread.is_alive():
        workers = [p for p in psutil.Process().children(recursive=True)
                   if any("spawn_main" in part for part in p.cmdline())]
        if workers:
            killed = workers[0].pid
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    thread.join(timeout=300)
    assert killed is not None, "no pool worker was seen"
    result = outcome["value"]
    assert result.retried >= 1 and not result.failed and result.completed == 2, (result, outcome.get("lines"))
    assert [p.name for p in results_files(out)] == ["seed_0.json", "seed_1.json"]
