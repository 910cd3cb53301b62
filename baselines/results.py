"""The one run writer and reader: results JSON + policy checkpoint, and the manifest of a bench.

Layout (docs/results-format.md):
  <out>/<scenario>/<quality>-v<N>/<label>/seed_<s>.json   the results of one run
  <out>/<scenario>/<quality>-v<N>/<label>/seed_<s>.pt     its policy checkpoint
  <out>/<scenario>/<quality>-v<N>/<label>/manifest.json   what was requested: seeds and budget

`write_run` replaces a run's pair so that a crash at any point leaves either the
old pair, the new pair, or no results file (a lone checkpoint, which nothing
reads) - never an old results file beside a new checkpoint. `write_manifest` is
called before the first seed trains, so `report` can tell an interrupted
multi-seed bench (fewer finished seeds than requested) from a finished one.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from madatasets.errors import MadataError
from madatasets.store import parse_id

RESULTS_SCHEMA = "madata.results"
RESULTS_SCHEMA_VERSION = 1
MANIFEST_SCHEMA = "madata.manifest"
CHECKPOINT_FORMAT = "madata.policy"
# 2: "policy" is the algorithm's whole state_dict (1: actor-critics saved the actor only).
CHECKPOINT_FORMAT_VERSION = 2
READABLE_CHECKPOINT_VERSIONS = (1, 2)


def run_directory(out_dir: str | Path, dataset_id: str, label: str) -> Path:
    parsed = parse_id(dataset_id)
    return Path(out_dir) / parsed.scenario / f"{parsed.quality}-v{parsed.version}" / label.replace("/", "_")


def normalized_score(references: dict[str, float], returns: float) -> float | None:
    """Normalized score against `references` (a dataset card's, never today's registry: a
    dataset keeps the references it was made with); None without random and expert."""
    if not {"random", "expert"} <= references.keys():
        return None
    return float(100.0 * (returns - references["random"]) / (references["expert"] - references["random"]))


def machine_info(threads: int) -> dict[str, Any]:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": threads, "python": platform.python_version()}


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def dataset_record(dataset: Any) -> dict[str, Any]:
    """The results file's `dataset` block."""
    return {"id": dataset.id, "scenario": dataset.spec.name, "scenario_version": dataset.spec.version,
            "quality": dataset.card["quality"], "total_steps": dataset.total_steps,
            "checksums": dataset.verified_checksums or {},   # what this run's load actually verified
            "package_versions": dataset.card.get("package_versions", {})}


def _atomic_bytes(path: Path, write: Any) -> None:
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)


def _atomic_json(path: Path, data: dict[str, Any]) -> None:
    _atomic_bytes(path, lambda p: p.write_text(json.dumps(data, indent=1) + "\n"))


def write_run(directory: Path, seed: int, results: dict[str, Any], checkpoint: dict[str, Any]) -> Path:
    """Write seed_<seed>.pt and seed_<seed>.json as a pair; returns the JSON's path.

    The results record the checkpoint's name and sha256, so a reader can check they belong together.
    """
    directory.mkdir(parents=True, exist_ok=True)
    json_path, checkpoint_path = directory / f"seed_{seed}.json", directory / f"seed_{seed}.pt"
    temporary = checkpoint_path.with_name(checkpoint_path.name + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_FORMAT_VERSION, **checkpoint}, temporary)
    digest = hashlib.sha256(temporary.read_bytes()).hexdigest()
    json_path.unlink(missing_ok=True)          # from here until the last replace the run is absent
    os.replace(temporary, checkpoint_path)
    _atomic_json(json_path, {"schema": RESULTS_SCHEMA, "schema_version": RESULTS_SCHEMA_VERSION, **results,
                             "checkpoint": checkpoint_path.name, "checkpoint_sha256": digest})
    return json_path


def write_manifest(directory: Path, dataset_id: str, label: str, updates: int, seeds: list[int],
                   command: str = "") -> Path:
    """Record that `seeds` of this configuration and budget were requested (merged with earlier requests)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "manifest.json"
    requests: dict[str, list[int]] = {}
    if path.is_file():
        try:
            requests = {k: list(v) for k, v in json.loads(path.read_text()).get("requested_seeds", {}).items()}
        except (OSError, json.JSONDecodeError, AttributeError) as error:
            raise MadataError(f"{path} is not a readable bench manifest ({type(error).__name__}); "
                              "delete it to start over") from None
    requests[str(updates)] = sorted(set(requests.get(str(updates), [])) | set(seeds))
    _atomic_json(path, {"schema": MANIFEST_SCHEMA, "dataset_id": dataset_id, "label": label,
                        "requested_seeds": requests, "command": command, "updated": now()})
    return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MadataError(f"{path} is not readable JSON ({type(error).__name__}); "
                          "delete or repair it, or leave it out of the directories") from None


def run_identity(result: dict[str, Any]) -> tuple:
    """What makes two results files the same run (a folder given twice, or copied, counts once)."""
    return (result["dataset"]["id"], result["label"], result["seed"], result["updates"],
            result.get("eval_every"), result.get("eval_episodes"), config_fingerprint(result))


def config_fingerprint(result: dict[str, Any]) -> str:
    """Short hash of everything configuring a run but its seed (two fingerprints never share a report row)."""
    configured = {"config": result.get("config"), "otc": (result.get("otc") or {}).get("config"),
                  "backbone": result.get("backbone")}
    return hashlib.sha256(json.dumps(configured, sort_keys=True).encode()).hexdigest()[:8]


def load_results(directories: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """Every results file under the directories, each run once; unreadable JSON files are an error."""
    results: dict[tuple, dict[str, Any]] = {}
    for directory in directories:
        root = Path(directory)
        if not root.is_dir():
            raise MadataError(f"no results directory at {root}")
        for path in sorted(root.rglob("*.json")):
            data = _read_json(path)
            if not isinstance(data, dict) or data.get("schema") != RESULTS_SCHEMA:
                continue                         # manifests, cards and other JSON files
            if data.get("schema_version") != RESULTS_SCHEMA_VERSION:
                raise MadataError(f"{path} has results schema version {data.get('schema_version')}; "
                                  f"this madata reads version {RESULTS_SCHEMA_VERSION}")
            _check_fields(path, data)
            data["path"] = str(path)
            results.setdefault(run_identity(data), data)
    if not results:
        raise MadataError(f"no madata results files under {', '.join(directories)}; run `madata bench` first")
    return list(results.values())


# The fields the report reads: a file that claims the schema but lacks one is damaged.
_REQUIRED = {"label": str, "seed": int, "updates": int, "dataset": dict, "final": dict, "curve": list}


def _check_fields(path: Path, data: dict[str, Any]) -> None:
    for key, kind in _REQUIRED.items():
        if not isinstance(data.get(key), kind):
            raise MadataError(f"{path} claims the madata results schema but its {key!r} is missing or not "
                              f"a {kind.__name__}; re-run `madata bench` or remove the file")
    if not isinstance(data["dataset"].get("id"), str):
        raise MadataError(f"{path}: its dataset has no 'id'; re-run `madata bench` or remove the file")
    final = data["final"]
    offline_only = "online_evaluation" in final      # import-only scenarios: no return to check
    if not offline_only and not isinstance(final.get("mean_return"), (int, float)) or \
            not isinstance(final.get("normalized"), (int, float, type(None))):
        raise MadataError(f"{path}: its 'final' lacks a numeric mean_return/normalized; "
                          f"re-run `madata bench` or remove the file")
    for point in data["curve"]:
        if not isinstance(point, dict) or not {"update", "mean_return", "normalized"} <= point.keys():
            raise MadataError(f"{path}: a 'curve' point lacks update/mean_return/normalized; "
                              f"re-run `madata bench` or remove the file")


def load_manifests(directories: list[str] | tuple[str, ...]) -> dict[tuple[str, str, int], set[int]]:
    """(dataset id, label, updates) -> every seed requested for it by the benches under the directories."""
    requested: dict[tuple[str, str, int], set[int]] = {}
    for directory in directories:
        for path in sorted(Path(directory).rglob("manifest.json")):
            data = _read_json(path)
            if not isinstance(data, dict) or data.get("schema") != MANIFEST_SCHEMA:
                continue
            for updates, seeds in data.get("requested_seeds", {}).items():
                key = (data["dataset_id"], data["label"], int(updates))
                requested.setdefault(key, set()).update(int(seed) for seed in seeds)
    return requested


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise MadataError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:   # noqa: BLE001 - any unpickling failure means "not our checkpoint"
        raise MadataError(f"{path} is not a madata policy checkpoint ({type(error).__name__})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise MadataError(f"{path} is not a madata policy checkpoint")
    if checkpoint.get("format_version") not in READABLE_CHECKPOINT_VERSIONS:
        raise MadataError(f"{path} has checkpoint format version {checkpoint.get('format_version')}; "
                          f"this madata reads versions {', '.join(map(str, READABLE_CHECKPOINT_VERSIONS))}")
    if checkpoint["format_version"] == 1:
        checkpoint = {**checkpoint, "policy": _policy_from_version_1(checkpoint["policy"])}
    return checkpoint


def _policy_from_version_1(policy: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept {"model": state_dict} (per-agent) or the actor and input statistics (joint)."""
    if "model" in policy:
        return policy["model"]
    state = {f"actor.{key}": value for key, value in policy["actor"].items()}
    return {**state, "obs_mean": policy["obs_mean"], "obs_std": policy["obs_std"]}


def versions(scenario_versions: dict[str, str]) -> dict[str, str]:
    from madatasets import __version__ as madata_version
    return {"madata": madata_version, "torch": torch.__version__, "numpy": np.__version__, **scenario_versions}
