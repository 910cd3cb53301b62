"""`madata leaderboard new`: turn a suite bench's results folder into a submission folder."""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from baselines.results import load_results, run_directory
from baselines.suites import load_suite
from leaderboard.submission import MANIFEST
from madatasets.errors import MadataError


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "0000000"


def new_submission(results_dir: str, label: str, suite_name: str, out: str, name: str, authors: list[str],
                   code_url: str, hardware: str, suite_dirs: tuple[str, ...] = ()) -> Path:
    """Copy LABEL's runs of the suite's datasets into OUT/results and write OUT/submission.json."""
    import json
    suite = load_suite(suite_name, suite_dirs)
    runs = [r for r in load_results([results_dir]) if r["label"] == label and r["dataset"]["id"] in suite.dataset_ids]
    if not runs:
        raise MadataError(f"no runs labelled {label!r} of suite {suite.name}'s datasets under {results_dir}")
    target = Path(out)
    if target.exists():
        raise MadataError(f"{target} exists; choose a new folder for the submission")
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for dataset_id in suite.dataset_ids:
        source = run_directory(results_dir, dataset_id, label)
        if source.is_dir():
            shutil.copytree(source, run_directory(staging / "results", dataset_id, label))
    first: dict[str, Any] = runs[0]
    checksums = {}
    for run in runs:
        checksums.setdefault(run["dataset"]["id"], run["dataset"]["checksums"])
    manifest = {
        "schema": "madata.submission", "schema_version": 1, "name": name,
        "algorithm": {"name": first["algorithm"], "version": first["versions"]["madata"], "label": label},
        "code": {"url": code_url, "commit": _git_commit()},
        "config": {"preset": first["preset"], "critic": first["critic"], "overrides": first["overrides"]},
        "suite": {"name": suite.name, "version": suite.version},
        "datasets": [{"id": d, "checksums": checksums[d]} for d in suite.dataset_ids if d in checksums],
        "seeds": sorted({run["seed"] for run in runs}),
        "hardware": {"description": hardware or f"{platform.processor() or platform.machine()}, "
                                                f"{first['machine']['cpu_count']} CPUs",
                     "machine": first["machine"]},
        "authors": [{"name": author} for author in authors],
        "results": "results",
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    staging.rename(target)
    return target
