from __future__ import annotations

import json
import subprocess
import sys

import pytest


def madata(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "madatasets.cli", *args], capture_output=True, text=True,
                          cwd=cwd)


def test_collect_list_info_verify_stats(store_path, tmp_path):
    result = madata("collect", "mpe-spread-3", "--env-steps", "200", "--quiet", "--store", str(store_path))
    assert result.returncode == 0, result.stderr
    assert "wrote mpe-spread-3/random-v1: 200 steps" in result.stdout
    listing = madata("list", "--store", str(store_path))
    assert "mpe-spread-3/random-v1" in listing.stdout
    table = madata("list", "--markdown", "--store", str(store_path)).stdout.splitlines()
    assert table[0].startswith("| dataset | steps") and table[2].startswith("| mpe-spread-3/random-v1 | 200 | 8 (8) |")
    assert "collect mpe-spread-3 --env-steps 200" in table[2]
    card = json.loads(madata("info", "mpe-spread-3/random-v1", "--json", "--store", str(store_path)).stdout)
    assert card["total_steps"] == 200
    assert "ok mpe-spread-3/random-v1" in madata("verify", "mpe-spread-3/random-v1", "--store", str(store_path)).stdout
    plot = tmp_path / "returns.png"
    stats = madata("stats", "mpe-spread-3/random-v1", "--plot", str(plot), "--store", str(store_path))
    assert stats.returncode == 0, stats.stderr
    assert "agent 0" in stats.stdout and plot.stat().st_size > 1000


@pytest.mark.parametrize("args, expected", [
    (["collect", "mpe-nope"], "mpe-spread-3"),
    (["collect", "mpe-spread-3", "--quality", "awesome"], "medium-replay"),
    (["collect", "mpe-spread-3", "--env-steps", "-5"], "--env-steps"),
    (["collect", "mpe-spread-3", "--env-steps", "5", "--steps", "5"], "--env-steps only"),
    (["collect", "mpe-spread-3", "--workers", "0"], "--workers"),
    (["info", "mpe-spread-3/random-v9"], "not found"),
    (["info", "spread"], "expected <scenario>/<quality>-v<N>"),
    (["verify", "nope/random-v1"], "unknown scenario"),
    (["stats", "mpe-spread-3/random-v1", "--plot", "out.txt"], ".png"),
    (["export", "mpe-spread-3/random-v1", "--format", "hdf5"], "--out"),
    (["export", "mpe-spread-3/random-v1", "--format", "minari", "--agent", "7"], "out of range"),
])
def test_bad_input_is_one_line_exit_2(args, expected, store_path):
    madata("collect", "mpe-spread-3", "--env-steps", "50", "--quiet", "--store", str(store_path))
    result = madata(*args, "--store", str(store_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("madata: error:") and expected in lines[0], result.stderr


def test_store_that_is_not_a_store(tmp_path):
    (tmp_path / "something.txt").write_text("x")
    result = madata("list", "--store", str(tmp_path))
    assert result.returncode == 2 and "not a madata store" in result.stderr and "Traceback" not in result.stderr


def test_store_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    result = madata("list", "--store", str(tmp_path / "file"))
    assert result.returncode == 2 and "is a file" in result.stderr and "Traceback" not in result.stderr


def test_help_on_every_command():
    for command in ["collect", "list", "info", "verify", "stats", "envs", "reference", "export", "demo", "gc",
                    "matrix-game"]:
        result = madata(command, "--help")
        assert result.returncode == 0 and "Usage:" in result.stdout


def _damage_group_metadata(store_path) -> None:
    import os
    from pathlib import Path
    group = Path(os.path.realpath(Path(store_path) / "mpe-spread-3" / "random-v1")) / "data.zarr"
    (group / "zarr.json").write_text("{ garbage")


@pytest.mark.parametrize("args, expected", [
    (["list", "--store", "/nonexistent-typo"], "no madata store"),
    (["info", "mpe-spread-3/random-v1\n"], "invalid dataset id"),
    (["info", "mpe-spread-3/random-v\uff10"], "invalid dataset id"),          # a full-width digit
    (["info", "mpe-spread-3/random-v" + "9" * 300], "invalid dataset id"),
    (["collect", "mpe-spread-3", "--version", "9" * 300], "--version"),
    (["collect", "mpe-spread-3", "--env-steps", "10", "--store", "{file}/store"], "not a directory"),
    (["bench", "bc", "--dataset", "mpe-spread-3/random-v1", "--updates", "1", "--out", "{file}/out"], "{file}"),
    (["export", "mpe-spread-3/random-v1", "--format", "hdf5", "--out", "/nonexistent/x.h5"], "/nonexistent"),
    (["stats", "mpe-spread-3/random-v1", "--plot", "/nonexistent/x.png"], "does not exist"),
    (["report", "{tmp}/results", "--plot", "/nonexistent/x.png"], "does not exist"),
    (["report", "{tmp}/badutf8"], "is not readable JSON"),
    (["report", "{tmp}/schemaless"], "'curve'"),
    (["gc", "--store", "/nonexistent-typo"], "no madata store"),
])
def test_more_bad_input_is_one_line_exit_2(args, expected, store_path, tmp_path):
    madata("collect", "mpe-spread-3", "--env-steps", "50", "--quiet", "--store", str(store_path))
    (tmp_path / "file").write_text("x")
    (tmp_path / "results").mkdir()
    (tmp_path / "badutf8").mkdir()
    (tmp_path / "badutf8" / "r.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "schemaless").mkdir()
    (tmp_path / "schemaless" / "r.json").write_text(json.dumps({"schema": "madata.results", "schema_version": 1,
                                                                "label": "x", "seed": 0, "updates": 1,
                                                                "dataset": {"id": "a"}, "final": {}}))
    args = [a.format(file=tmp_path / "file", tmp=tmp_path) for a in args]
    expected = expected.format(file=tmp_path / "file")
    if "--store" not in args:
        args += ["--store", str(store_path)] if args[0] not in ("report",) else []
    result = madata(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("madata: error:") and expected in lines[0], result.stderr


@pytest.mark.parametrize("command", [["list"], ["verify", "mpe-spread-3/random-v1"],
                                     ["stats", "mpe-spread-3/random-v1"], ["info", "mpe-spread-3/random-v1"]])
def test_a_damaged_dataset_is_one_line_exit_2(command, store_path):
    madata("collect", "mpe-spread-3", "--env-steps", "50", "--quiet", "--store", str(store_path))
    _damage_group_metadata(store_path)
    result = madata(*command, "--store", str(store_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "zarr.json is unreadable" in lines[0], result.stderr


def test_gc_on_a_clean_store(store_path):
    madata("collect", "mpe-spread-3", "--env-steps", "50", "--quiet", "--store", str(store_path))
    result = madata("gc", "--store", str(store_path))
    assert result.returncode == 0 and "removed 0 " in result.stdout


def test_bench_on_a_corrupted_dataset_refuses_and_writes_no_results(store_path, tmp_path):
    import os
    from pathlib import Path
    madata("collect", "mpe-spread-3", "--env-steps", "50", "--quiet", "--store", str(store_path))
    group = Path(os.path.realpath(Path(store_path) / "mpe-spread-3" / "random-v1")) / "data.zarr"
    shard = next(p for p in sorted((group / "rewards" / "c").rglob("*")) if p.is_file())
    data = bytearray(shard.read_bytes())
    data[len(data) // 3] ^= 0x10
    shard.write_bytes(bytes(data))
    out = tmp_path / "results"
    result = madata("bench", "bc", "--dataset", "mpe-spread-3/random-v1", "--updates", "2", "--seeds", "1",
                    "--out", str(out), "--quiet", "--store", str(store_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'rewards'" in lines[0], result.stderr
    # The bench's manifest records what was asked (so `report` shows 0 of 1 seeds); no results file exists.
    assert not out.exists() or not [p for p in out.rglob("*.json") if p.name != "manifest.json"]


def test_a_second_hdf5_export_needs_overwrite(store_path, tmp_path):
    madata("collect", "mpe-spread-3", "--env-steps", "50", "--quiet", "--store", str(store_path))
    target = tmp_path / "x.h5"
    base = ["export", "mpe-spread-3/random-v1", "--format", "hdf5", "--out", str(target), "--store", str(store_path)]
    assert madata(*base).returncode == 0
    again = madata(*base)
    assert again.returncode == 2 and "--overwrite" in again.stderr and "Traceback" not in again.stderr
    assert madata(*base, "--overwrite").returncode == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("x.h5")] == ["x.h5"]


@pytest.mark.parametrize("error", [PermissionError(13, "Permission denied", "/store/.locks"),
                                   OSError(30, "Read-only file system", "/store/mpe-spread-3"),
                                   OSError(28, "No space left on device", "/store/mpe-spread-3")])
def test_os_errors_on_user_paths_are_one_line_naming_the_path(error, store_path, monkeypatch, capsys):
    # A read-only or full store fails deep inside a write; the CLI boundary maps it once.
    import madatasets.store as store_module
    from madatasets.cli import cli

    def failing_lock(self, dataset_id, wait=False):
        raise error

    monkeypatch.setattr(store_module.Store, "lock", failing_lock)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["collect", "mpe-spread-3", "--env-steps", "10", "--quiet", "--store", str(store_path)])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("madata: error:") and error.filename in lines[0]
    assert error.strerror in lines[0]


def test_collect_keeps_the_old_steps_flag_for_one_release(store_path):
    result = madata("collect", "mpe-spread-3", "--steps", "50", "--quiet", "--store", str(store_path))
    assert result.returncode == 0, result.stderr
    assert "deprecated: collect --steps is now --env-steps" in result.stderr
    assert "50 steps" in result.stdout

