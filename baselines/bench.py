"""The benchmark harness: train a baseline on a dataset, evaluate it, write results and a policy checkpoint.

One run = (algorithm, dataset, seed). `train_run` is the whole pipeline; `bench`
runs several seeds, in parallel processes when workers > 1 (each process uses
`threads` torch threads; results do not depend on the worker count).
The results file format is documented in docs/results-format.md.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import multiprocessing
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from baselines.algorithms import ALL_ALGORITHMS, CENTRALIZABLE, algorithm_module, is_decentralized
from baselines.core.allocator import keep_freed_memory
from baselines.core.config import CRITIC_KINDS, parse_overrides, seed_everything, with_values
from baselines.core.evaluation import Evaluator
from baselines.core.replay import OfflineReplay
from baselines.presets import PRESETS, preset_values
from madatasets import __version__ as madata_version
from madatasets.dataset import load
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec
from madatasets.store import Store, parse_id

RESULTS_SCHEMA = "madata.results"
RESULTS_SCHEMA_VERSION = 1
CHECKPOINT_FORMAT = "madata.policy"
CHECKPOINT_FORMAT_VERSION = 1


@dataclass
class RunSpec:
    """Everything one training run depends on (plus where it writes)."""

    algorithm: str
    dataset_id: str
    seed: int = 0
    steps: int = 10_000
    eval_every: int = 1_000
    eval_episodes: int = 32
    preset: str = "paper"
    critic: str = "decentralized"
    overrides: tuple[str, ...] = ()
    out_dir: str = "results"
    store: str | None = None
    progress: bool = True
    threads: int = 1
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def build_config(algorithm: str, dataset_id: str, preset: str = "paper", critic: str = "decentralized",
                 overrides: tuple[str, ...] | list[str] = ()) -> tuple[Any, list[str]]:
    """Config of `algorithm` for `dataset_id`: defaults, then the preset, then --critic, then --set overrides."""
    module = algorithm_module(algorithm)
    if critic not in CRITIC_KINDS:
        raise MadataError(f"--critic must be one of {', '.join(CRITIC_KINDS)}, got {critic!r}")
    if critic == "centralized" and algorithm not in CENTRALIZABLE:
        raise MadataError(f"{algorithm} has no centralized-critic variant; those are: {', '.join(CENTRALIZABLE)}")
    config = module.Config()
    fields = {f.name for f in dataclasses.fields(config)}
    values, notes = preset_values(preset, algorithm, dataset_id, fields)
    if hasattr(module, "preset_values"):    # algorithms carrying their own paper preset (mabcq: Table 8)
        own_values, own_notes = module.preset_values(preset, dataset_id)
        values, notes = values | own_values, notes + own_notes
    config = with_values(config, values)
    config = with_values(config, {"critic": critic})
    config = with_values(config, parse_overrides(config, list(overrides)))
    config.validate()
    return config, notes


def run_label(algorithm: str, critic: str, preset: str, overrides: tuple[str, ...] | list[str]) -> str:
    """Name of a configuration in reports, e.g. omar, omar[centralized], omar[released-code,sampler=cem]."""
    parts = (["centralized"] if critic == "centralized" else []) + ([preset] if preset != "paper" else []) + \
        sorted(overrides)
    return algorithm + (f"[{','.join(parts)}]" if parts else "")


def run_directory(out_dir: str | Path, dataset_id: str, label: str) -> Path:
    parsed = parse_id(dataset_id)
    return Path(out_dir) / parsed.scenario / f"{parsed.quality}-v{parsed.version}" / label.replace("/", "_")


def _normalized(references: dict[str, float], returns: float) -> float | None:
    """Normalized score against `references` (a dataset card's, never today's registry: a
    dataset keeps the references it was made with); None without random and expert."""
    if not {"random", "expert"} <= references.keys():
        return None
    return float(100.0 * (returns - references["random"]) / (references["expert"] - references["random"]))


def machine_info(threads: int) -> dict[str, Any]:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": threads, "python": platform.python_version()}


def _check_run(spec: RunSpec) -> None:
    if spec.algorithm not in ALL_ALGORITHMS:
        raise MadataError(f"unknown algorithm {spec.algorithm!r}; valid: {', '.join(ALL_ALGORITHMS)}")
    if spec.steps < 1:
        raise MadataError(f"--steps must be a positive number of updates, got {spec.steps}")
    if spec.eval_every < 1:
        raise MadataError(f"--eval-every must be a positive number of updates, got {spec.eval_every}")
    if spec.eval_episodes < 1:
        raise MadataError(f"--eval-episodes must be at least 1, got {spec.eval_episodes}")
    if spec.preset not in PRESETS:
        raise MadataError(f"unknown preset {spec.preset!r}; valid: {', '.join(PRESETS)}")


def make_replay(algorithm: str, dataset: Any, critic: str = "decentralized", observation: str = "state") -> Any:
    """The replay `algorithm` trains from: per-agent datasets B_i (decentralized track) or joint transitions."""
    if is_decentralized(algorithm):
        from baselines.bcq import PerAgentReplay
        return PerAgentReplay.from_dataset(dataset, observation)
    return OfflineReplay.from_dataset(dataset, joint=critic == "centralized")


def train_run(spec: RunSpec) -> dict[str, Any]:
    """Train, evaluate every eval_every updates and at the end, save results JSON and policy; returns the results."""
    _check_run(spec)
    torch.set_num_threads(spec.threads)
    keep_freed_memory()   # stacked updates allocate large tensors; reuse them (baselines/core/allocator.py)
    started = time.perf_counter()
    config, notes = build_config(spec.algorithm, spec.dataset_id, spec.preset, spec.critic, spec.overrides)
    store = Store(spec.store)
    if not store.exists:
        raise MadataError(f"no madata store at {store.root}; collect datasets first or pass --store")
    dataset = load(spec.dataset_id, store)
    decentralized = is_decentralized(spec.algorithm)   # trains on B_i = agent(i)
    if dataset.layout != "joint" and not decentralized:
        raise MadataError(f"{spec.dataset_id} has one dataset per agent (layout {dataset.layout!r}); "
                          "these baselines train on joint datasets")
    scenario = dataset.spec.name
    module = algorithm_module(spec.algorithm)
    generator = seed_everything(spec.seed)
    replay = make_replay(spec.algorithm, dataset, config.critic, getattr(config, "observation", "state"))
    if decentralized:
        from baselines.diagnostics import DecentralizedEvaluator
        evaluator = DecentralizedEvaluator.for_dataset(dataset, config, spec.eval_episodes, spec.seed)
    else:
        evaluator = Evaluator(scenario, spec.eval_episodes, spec.seed)
    algorithm = module.Algorithm(config, dataset.spec, generator, replay.observation_statistics())
    load_seconds = time.perf_counter() - started
    pretrain_info = algorithm.pretrain(replay, generator) if hasattr(algorithm, "pretrain") else None
    # Fitting generative models (bcq/mabcq VAEs) is training, not data loading: time it apart.
    pretrain_seconds = time.perf_counter() - started - load_seconds

    label = run_label(spec.algorithm, config.critic, spec.preset, spec.overrides)
    directory = run_directory(spec.out_dir, spec.dataset_id, label)
    directory.mkdir(parents=True, exist_ok=True)
    curve: list[dict[str, Any]] = []
    references = dataset.card.get("reference_scores", {})
    update_seconds = evaluation_seconds = 0.0
    diverged_at: int | None = None
    losses: dict[str, float] = {}

    def evaluate(update: int) -> dict[str, Any]:
        nonlocal evaluation_seconds
        tick = time.perf_counter()
        returns = evaluator(algorithm.act)
        evaluation_seconds += time.perf_counter() - tick
        mean = float(returns.mean())
        point = {"update": update, "mean_return": mean, "std_return": float(returns.std()),
                 "normalized": _normalized(references, mean), "losses": dict(losses)}
        if decentralized:   # MABCQ's value difference (Fig 3) and extrapolation error (Table 5)
            point["diagnostics"] = evaluator.diagnostics(algorithm)
        curve.append(point)
        return point | {"returns": returns.tolist()}

    bar = tqdm(total=spec.steps, desc=f"{label} {spec.dataset_id} seed {spec.seed}", disable=not spec.progress,
               leave=False, dynamic_ncols=True)
    final: dict[str, Any] = {}
    for update in range(1, spec.steps + 1):
        tick = time.perf_counter()
        batch = replay.sample(config.batch_size, generator, config.independent_batches)
        losses = algorithm.update(batch)
        update_seconds += time.perf_counter() - tick
        if diverged_at is None and not all(np.isfinite(v) for v in losses.values()):
            diverged_at = update
        if update % spec.eval_every == 0 or update == spec.steps:
            final = evaluate(update)
            bar.set_postfix(ret=f"{final['mean_return']:.2f}")
        bar.update(1)
    bar.close()
    evaluator.close()

    checkpoint_path = directory / f"seed_{spec.seed}.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_FORMAT_VERSION,
                "algorithm": spec.algorithm, "config": config.to_dict(), "dataset_id": spec.dataset_id,
                "scenario": scenario, "scenario_version": dataset.spec.version, "seed": spec.seed,
                "updates": spec.steps, "reference_scores": references, "policy": algorithm.policy_state()},
               checkpoint_path)
    wall = time.perf_counter() - started
    results = {
        "schema": RESULTS_SCHEMA, "schema_version": RESULTS_SCHEMA_VERSION,
        "label": label, "algorithm": spec.algorithm, "critic": config.critic, "preset": spec.preset,
        "overrides": list(spec.overrides), "config": config.to_dict(), "preset_notes": notes,
        "dataset": {"id": spec.dataset_id, "scenario": scenario, "scenario_version": dataset.spec.version,
                    "quality": dataset.card["quality"], "total_steps": dataset.total_steps,
                    "checksums": dataset.verified_checksums or {},
                    "package_versions": dataset.card.get("package_versions", {})},
        "seed": spec.seed, "updates": spec.steps, "eval_every": spec.eval_every,
        "eval_episodes": spec.eval_episodes,
        "reference_scores": references,
        "normalized_available": {"random", "expert"} <= references.keys(),
        "curve": curve,
        "final": {"update": final["update"], "mean_return": final["mean_return"], "std_return": final["std_return"],
                  "normalized": final["normalized"], "returns": final["returns"]},
        "diverged_at": diverged_at,
        "pretrain": pretrain_info,   # losses after fitting generative models before the update loop (bcq/mabcq)
        "wall_time_s": wall,
        "profile": {"load_s": load_seconds, "pretrain_s": pretrain_seconds, "updates_s": update_seconds,
                    "evaluation_s": evaluation_seconds,
                    "updates_per_s": spec.steps / update_seconds if update_seconds else None},
        "checkpoint": checkpoint_path.name,
        "versions": {"madata": madata_version, "torch": torch.__version__, "numpy": np.__version__,
                     **get_spec(scenario).package_versions()},
        "machine": machine_info(spec.threads),
        "command": spec.command,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    path = directory / f"seed_{spec.seed}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(temporary, path)     # a results file is either whole or absent
    results["path"] = str(path)
    return results


def _train_in_worker(spec: RunSpec) -> dict[str, Any]:
    return train_run(dataclasses.replace(spec, progress=False))


def bench(specs: list[RunSpec], workers: int = 1) -> list[dict[str, Any]]:
    """Run every spec; in `workers` spawned processes when workers > 1."""
    if workers < 1:
        raise MadataError(f"--workers must be at least 1, got {workers}")
    for spec in specs:
        _check_run(spec)
        build_config(spec.algorithm, spec.dataset_id, spec.preset, spec.critic, spec.overrides)
    if workers == 1 or len(specs) == 1:
        return [train_run(spec) for spec in specs]
    with multiprocessing.get_context("spawn").Pool(min(workers, len(specs))) as pool:
        return pool.map(_train_in_worker, specs)


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
    if checkpoint.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise MadataError(f"{path} has checkpoint format version {checkpoint.get('format_version')}; "
                          f"this madata reads version {CHECKPOINT_FORMAT_VERSION}")
    return checkpoint


def policy_from_checkpoint(checkpoint: dict[str, Any]):
    """Rebuild the algorithm of a checkpoint with its trained policy loaded."""
    module = algorithm_module(checkpoint["algorithm"])
    spec = get_spec(checkpoint["scenario"])
    if spec.version != checkpoint["scenario_version"]:
        raise MadataError(f"checkpoint was trained on {spec.name} version {checkpoint['scenario_version']}, "
                          f"the installed scenario is version {spec.version}")
    config = with_values(module.Config(), checkpoint["config"])
    algorithm = module.Algorithm(config, spec, torch.Generator())
    algorithm.load_policy_state(checkpoint["policy"])
    return algorithm


def evaluate_checkpoint(path: str | Path, episodes: int = 32, seed: int | None = None) -> dict[str, Any]:
    """Re-run a saved policy; seed defaults to the training seed (same episodes as its final evaluation)."""
    checkpoint = load_checkpoint(path)
    algorithm = policy_from_checkpoint(checkpoint)
    seed = checkpoint["seed"] if seed is None else seed
    if is_decentralized(checkpoint["algorithm"]):
        from baselines.diagnostics import DecentralizedEvaluator   # its agents observe the global state
        evaluator = DecentralizedEvaluator(checkpoint["scenario"], algorithm.config.gamma,
                                           algorithm.config.observation, episodes, seed)
    else:
        evaluator = Evaluator(checkpoint["scenario"], episodes, seed)
    returns = evaluator(algorithm.act)
    evaluator.close()
    mean = float(returns.mean())
    return {"checkpoint": str(path), "dataset_id": checkpoint["dataset_id"], "algorithm": checkpoint["algorithm"],
            "episodes": episodes, "seed": seed, "mean_return": mean, "std_return": float(returns.std()),
            "normalized": _normalized(_checkpoint_references(checkpoint), mean), "returns": returns.tolist()}


def _checkpoint_references(checkpoint: dict[str, Any]) -> dict[str, float]:
    # Checkpoints written before they carried their dataset's references fall back to the registry's.
    if "reference_scores" in checkpoint:
        return checkpoint["reference_scores"]
    from madatasets.scores import reference_scores
    return reference_scores(checkpoint["dataset_id"])
