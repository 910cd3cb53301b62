"""A leaderboard submission: `submission.json` (schema in submission.schema.json) + a run-writer results folder.

`check_submission` returns every problem as one line (empty: valid): the manifest's
schema; the suite exists at that version; the datasets are the suite's and their
card checksums the ones it pins; the suite's protocol was followed (seeds, budget,
evaluation schedule, episodes, final-policy score); and every score is finite and
recomputes from the per-episode returns in the results, each checkpoint matching
the sha256 its results file records.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from baselines.results import load_results, normalized_score
from baselines.suites import Suite, load_suite
from madatasets.errors import MadataError

SCHEMA_PATH = Path(__file__).with_name("submission.schema.json")
MANIFEST = "submission.json"
# Recomputed statistics agree with the stored ones to float rounding (json round-trips doubles exactly,
# but means are summed in another order by other writers).
RTOL, ATOL = 1e-9, 1e-9


@dataclass
class Submission:
    path: Path
    manifest: dict[str, Any]
    suite: Suite
    results: list[dict[str, Any]]


def read_manifest(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    manifest_path = path / MANIFEST
    if not path.is_dir():
        return None, [f"{path}: not a submission folder (expected a folder holding {MANIFEST} and its results)"]
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        return None, [f"{manifest_path}: missing; a submission is a folder with {MANIFEST} and its results folder"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, [f"{manifest_path}: not readable JSON ({type(error).__name__})"]
    import jsonschema
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    problems = [f"{manifest_path}: at /{'/'.join(map(str, error.absolute_path))}: {error.message}"
                for error in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))]
    return (manifest if not problems else None), problems


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)


def check_run(where: str, run: dict[str, Any], manifest: dict[str, Any], suite: Suite,
              checksums: dict[str, dict[str, str]]) -> list[str]:
    """Problems of one results file against the manifest and the suite's protocol."""
    problems = []
    dataset_id, protocol = run["dataset"]["id"], suite.protocol
    if run["label"] != manifest["algorithm"]["label"] or run.get("algorithm") != manifest["algorithm"]["name"]:
        problems.append(f"{where}: a run of {run.get('algorithm')!r} labelled {run['label']!r}; the manifest "
                        f"submits {manifest['algorithm']['name']!r} labelled {manifest['algorithm']['label']!r}")
    if dataset_id not in checksums:
        return problems + [f"{where}: dataset {dataset_id} is not one of the manifest's datasets"]
    if run["dataset"].get("checksums") != checksums[dataset_id]:
        problems.append(f"{where}: trained on data whose checksums differ from the manifest's for {dataset_id}")
    budget = suite.updates_for(dataset_id) if dataset_id in suite.dataset_ids else protocol.updates
    expected = {"updates": budget, "eval_every": min(protocol.eval_every, budget),
                "eval_episodes": protocol.eval_episodes}
    for key, value in expected.items():
        if run.get(key) != value:
            problems.append(f"{where}: {key} {run.get(key)}; suite {suite.tag()} requires {value}")
    record = run.get("suite")
    if record is not None and not record.get("on_protocol", True):
        problems.append(f"{where}: labelled off-protocol ({'; '.join(record.get('deviations', []))})")
    for key, value in manifest["config"].items():      # how the configs were built (they vary by dataset)
        if key in ("preset", "critic", "overrides") and run.get(key) != value:
            problems.append(f"{where}: {key} {run.get(key)!r}; the manifest's config says {value!r}")
    final = run["final"]
    if final.get("update") != run.get("updates"):
        problems.append(f"{where}: scored at update {final.get('update')}, not the final policy "
                        f"(update {run.get('updates')}); no model selection")
    returns = final.get("returns")
    if not isinstance(returns, list) or len(returns) != protocol.eval_episodes:
        return problems + [f"{where}: final.returns must list the {protocol.eval_episodes} evaluation episodes' "
                           f"returns, got {len(returns) if isinstance(returns, list) else 'none'}"]
    values = np.asarray(returns, dtype=np.float64)
    if not np.isfinite(values).all() or not all(isinstance(final.get(k), (int, float)) and math.isfinite(final[k])
                                                for k in ("mean_return", "std_return")):
        return problems + [f"{where}: a return is not finite"]
    if not _close(float(values.mean()), final["mean_return"]) or not _close(float(values.std()), final["std_return"]):
        problems.append(f"{where}: final mean_return/std_return {final['mean_return']}/{final['std_return']} do not "
                        f"recompute from its returns ({values.mean()}/{values.std()})")
    pinned = suite.dataset(dataset_id).reference_scores if dataset_id in suite.dataset_ids else {}
    references = run.get("reference_scores", {})
    if pinned and {k: references.get(k) for k in pinned} != pinned:
        problems.append(f"{where}: reference scores {references} are not the suite's {pinned}")
    recomputed = normalized_score(references, float(values.mean()))
    stored = final.get("normalized")
    if recomputed is None or not isinstance(stored, (int, float)) or not math.isfinite(stored):
        problems.append(f"{where}: no finite normalized score (reference scores random and expert are needed)")
    elif not _close(recomputed, stored):
        problems.append(f"{where}: normalized {stored} does not recompute from its returns ({recomputed})")
    checkpoint = Path(run["path"]).with_name(str(run.get("checkpoint", "")))
    if not checkpoint.is_file():
        problems.append(f"{where}: its checkpoint {checkpoint.name} is missing")
    elif hashlib.sha256(checkpoint.read_bytes()).hexdigest() != run.get("checkpoint_sha256"):
        problems.append(f"{where}: checkpoint {checkpoint.name} does not match the sha256 its results record")
    return problems


def check_submission(path: str | Path, suite_dirs: tuple[str | Path, ...] = ()) -> tuple[Submission | None,
                                                                                          list[str]]:
    """(the submission if valid, every problem as one line)."""
    path = Path(path)
    manifest, problems = read_manifest(path)
    if manifest is None:
        return None, problems
    where = path / MANIFEST
    try:
        suite = load_suite(manifest["suite"]["name"], tuple(suite_dirs))
    except MadataError as error:
        return None, [f"{where}: suite: {error}"]
    if suite.version != manifest["suite"]["version"]:
        problems.append(f"{where}: suite {suite.name} version {manifest['suite']['version']}; this madata has "
                        f"version {suite.version}")
    checksums = {d["id"]: d["checksums"] for d in manifest["datasets"]}
    if sorted(checksums) != sorted(suite.dataset_ids) or len(checksums) != len(manifest["datasets"]):
        problems.append(f"{where}: datasets {', '.join(sorted(checksums))}; suite {suite.tag()} has "
                        f"{', '.join(sorted(suite.dataset_ids))} (each once)")
    for dataset_id, sums in checksums.items():
        if dataset_id not in suite.dataset_ids:
            continue
        pinned = suite.dataset(dataset_id).checksums
        if not pinned:
            problems.append(f"{where}: suite {suite.tag()} pins no card checksums for {dataset_id} yet, so no "
                            f"submission to it can be checked (pin them in the suite file first)")
        elif sums != pinned:
            different = sorted(k for k in set(sums) | set(pinned) if sums.get(k) != pinned.get(k))
            problems.append(f"{where}: {dataset_id} card checksums differ from suite {suite.tag()}'s "
                            f"(arrays {', '.join(different)}): not the suite's data")
    if sorted(manifest["seeds"]) != suite.protocol.seed_list():
        problems.append(f"{where}: seeds {manifest['seeds']}; suite {suite.tag()} requires seeds "
                        f"0..{suite.protocol.seeds - 1}")
    results_dir = path / manifest["results"]
    try:
        results = load_results([str(results_dir)])
    except MadataError as error:
        return None, problems + [f"{where}: results: {error}"]
    seen: dict[tuple[str, int], int] = {}
    for run in sorted(results, key=lambda r: r["path"]):
        problems += check_run(str(Path(run["path"]).relative_to(path)), run, manifest, suite, checksums)
        key = (run["dataset"]["id"], run["seed"])
        seen[key] = seen.get(key, 0) + 1
    for dataset_id in sorted(checksums):
        for seed in sorted(manifest["seeds"]):
            count = seen.get((dataset_id, seed), 0)
            if count != 1:
                problems.append(f"{where}: {count} runs of {dataset_id} seed {seed} in {manifest['results']}; "
                                f"exactly one is required")
    extra = sorted(f"{d} seed {s}" for d, s in seen if s not in manifest["seeds"])
    if extra:
        problems.append(f"{where}: runs of seeds the manifest does not list: {', '.join(extra)}")
    return (Submission(path, manifest, suite, results) if not problems else None), problems
