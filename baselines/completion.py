"""Is a run already done? (what `bench --suite` and `madata sweep` skip on a re-run)

A run is complete when its results file is readable, is of this schema, was trained
with the same budget, evaluation schedule and config, and its checkpoint is beside
it with the sha256 the results record. Anything else (no file, a `.tmp` left by a
killed worker, a different budget) means the run has to be (re-)run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from baselines.bench import RunSpec
from baselines.configure import build_config
from baselines.results import RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, run_directory


def results_path(spec: RunSpec) -> Path:
    return run_directory(spec.out_dir, spec.dataset_id, spec.label()) / f"seed_{spec.seed}.json"


def completed_result(spec: RunSpec) -> dict[str, Any] | None:
    """The run's results if they are complete and match the spec, else None."""
    path = results_path(spec)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("schema") != RESULTS_SCHEMA or \
            data.get("schema_version") != RESULTS_SCHEMA_VERSION:
        return None
    if (data.get("updates"), data.get("eval_every"), data.get("eval_episodes"), data.get("seed")) != \
            (spec.updates, spec.eval_every, spec.eval_episodes, spec.seed):
        return None
    config, _ = build_config(spec.algorithm, spec.dataset_id, spec.preset, spec.critic, spec.assignments())
    if json.loads(json.dumps(config.to_dict())) != data.get("config"):
        return None
    if (data.get("suite") or None) != (json.loads(json.dumps(spec.suite)) if spec.suite else None):
        return None
    checkpoint = path.with_name(str(data.get("checkpoint", "")))
    if not checkpoint.is_file() or hashlib.sha256(checkpoint.read_bytes()).hexdigest() != \
            data.get("checkpoint_sha256"):
        return None
    return data | {"path": str(path)}
