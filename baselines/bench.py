"""The benchmark harness: train an algorithm on a dataset, evaluate it, write its results and policy.

One run = (algorithm, dataset, seed). `train_run` is the whole pipeline and talks
to the algorithm only through the contract (baselines/core/contract.py): build
the replay of its data setting, `pretrain`, `update` for the budget, `act` in
the evaluator, `state_dict` into the checkpoint. `bench` records what was
requested (the manifest) and runs several seeds, in parallel processes when
workers > 1 (results do not depend on the worker count).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from baselines.algorithms import ALL_ALGORITHMS, DISCRETE_ALGORITHMS, algorithm_module
from baselines.configure import build_config, run_label
from baselines.core.config import AlgorithmConfig, seed_everything
from baselines.core.contract import Algorithm
from baselines.core.replay import OfflineReplay, PerAgentReplay, Replay
from baselines.evaluation import Evaluator
from baselines.presets import PRESETS
from baselines.process import keep_freed_memory
from baselines.results import dataset_record, machine_info, now, run_directory, versions, write_manifest, write_run
from madatasets.dataset import Dataset, load
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec
from madatasets.store import Store


@dataclass
class RunSpec:
    """Everything one training run depends on (plus where it writes)."""

    algorithm: str
    dataset_id: str
    seed: int = 0
    updates: int = 10_000
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
    # A suite's protocol values (its batch size) go in after the preset and before --set, and
    # stay out of the label: `omar` on a suite is still `omar`.
    protocol_overrides: tuple[str, ...] = ()
    # The suite this run belongs to: {"name", "version", "on_protocol", "deviations"} (results field `suite`).
    suite: dict[str, Any] | None = None

    def assignments(self) -> tuple[str, ...]:
        return self.protocol_overrides + self.overrides

    def label(self) -> str:
        """The configuration's name; a suite run off its protocol says so (and never overwrites one on it)."""
        off = ("off-protocol",) if self.suite is not None and not self.suite.get("on_protocol", True) else ()
        return run_label(self.algorithm, self.critic, self.preset, self.overrides + off)


def check_budget(updates: int, eval_episodes: int, preset: str, eval_every: int = 1) -> None:
    """The checks every run shares, whatever trains in it (a bench run, OTC's pre-training)."""
    if updates < 1:
        raise MadataError(f"--updates must be a positive number of gradient updates, got {updates}")
    if eval_every < 1:
        raise MadataError(f"--eval-every must be a positive number of updates, got {eval_every}")
    if eval_episodes < 1:
        raise MadataError(f"--eval-episodes must be at least 1, got {eval_episodes}")
    if preset not in PRESETS:
        raise MadataError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")


def check_run(spec: RunSpec) -> None:
    if spec.algorithm not in ALL_ALGORITHMS:
        raise MadataError(f"unknown algorithm {spec.algorithm!r}; valid: {', '.join(ALL_ALGORITHMS)}")
    check_budget(spec.updates, spec.eval_episodes, spec.preset, spec.eval_every)


def open_dataset(dataset_id: str, store_path: str | None) -> Dataset:
    store = Store(store_path)
    if not store.exists:
        raise MadataError(f"no madata store at {store.root}; collect datasets first or pass --store")
    return load(dataset_id, store)


def make_replay(setting: str, dataset: Dataset, config: AlgorithmConfig) -> Replay:
    """The replay of a data setting: joint transitions (sequences of them for recurrent discrete agents),
    or every agent's own dataset B_i."""
    if setting == "discrete" or dataset.spec.discrete:
        from baselines.core.discrete import DiscreteReplay
        from baselines.core.sequences import SequenceReplay
        if setting != "discrete":
            raise MadataError(f"{dataset.id} has discrete actions; train it with a discrete algorithm "
                              f"({', '.join(DISCRETE_ALGORITHMS)})")
        if config.recurrent:
            return SequenceReplay(dataset, config.sequence_length, config.burn_in)
        return DiscreteReplay(dataset)
    if setting == "joint":
        if dataset.layout != "joint":
            raise MadataError(f"{dataset.id} has one dataset per agent (layout {dataset.layout!r}); "
                              "the joint-setting baselines train on joint datasets")
        return OfflineReplay.from_dataset(dataset, joint=config.critic == "centralized",
                                          independent=config.independent_batches)
    return PerAgentReplay.from_dataset(dataset, config.observation)


def curve_point(update: int, evaluation: dict[str, Any], losses: dict[str, float]) -> dict[str, Any]:
    """A learning-curve entry: the evaluation without its per-episode returns, and the last losses."""
    point = {"update": update, "mean_return": evaluation["mean_return"], "std_return": evaluation["std_return"],
             "normalized": evaluation["normalized"], "losses": dict(losses)}
    if "diagnostics" in evaluation:
        point["diagnostics"] = evaluation["diagnostics"]
    if "win_rate" in evaluation:      # discrete (SMAX) scenarios
        point["win_rate"] = evaluation["win_rate"]
    for key in ("online_evaluation", "offline"):     # import-only scenarios (SMAC): no online score
        if key in evaluation:
            point[key] = evaluation[key]
    return point


def train_run(spec: RunSpec) -> dict[str, Any]:
    """Train, evaluate every eval_every updates and at the end, save results JSON and policy; returns the results."""
    check_run(spec)
    torch.set_num_threads(spec.threads)
    keep_freed_memory()   # stacked updates allocate large tensors; reuse them (baselines/process.py)
    started = time.perf_counter()
    config, notes = build_config(spec.algorithm, spec.dataset_id, spec.preset, spec.critic, spec.assignments())
    dataset = open_dataset(spec.dataset_id, spec.store)
    module = algorithm_module(spec.algorithm)
    generator = seed_everything(spec.seed)
    setting = module.Algorithm.setting
    replay = make_replay(setting, dataset, config)
    if not dataset.spec.simulator:
        # Import-only scenarios (SMAC): nothing to run a policy on here; offline metrics only.
        from baselines.offline_evaluation import OfflineOnlyEvaluator
        evaluator: Any = OfflineOnlyEvaluator(dataset.spec.name, replay, spec.seed)
    elif setting == "discrete":
        from baselines.discrete_evaluation import DiscreteEvaluator
        evaluator: Any = DiscreteEvaluator(dataset.spec.name, spec.eval_episodes, spec.seed)
    else:
        evaluator = Evaluator.for_run(dataset, setting, config, spec.eval_episodes, spec.seed)
    algorithm: Algorithm = module.Algorithm(config, dataset.spec, generator, replay.observation_statistics())
    load_seconds = time.perf_counter() - started
    pretrain_info = algorithm.pretrain(replay, generator)
    # Fitting generative models (bcq/mabcq VAEs) is training, not data loading: time it apart.
    pretrain_seconds = time.perf_counter() - started - load_seconds

    label = spec.label()
    references = dataset.card.get("reference_scores", {})
    curve: list[dict[str, Any]] = []
    update_seconds = evaluation_seconds = 0.0
    diverged_at: int | None = None
    losses: dict[str, float] = {}
    final: dict[str, Any] = {}
    bar = tqdm(total=spec.updates, desc=f"{label} {spec.dataset_id} seed {spec.seed}", disable=not spec.progress,
               leave=False, dynamic_ncols=True)
    for update in range(1, spec.updates + 1):
        tick = time.perf_counter()
        losses = algorithm.update(replay.sample(config.batch_size, generator))
        update_seconds += time.perf_counter() - tick
        if diverged_at is None and not all(np.isfinite(v) for v in losses.values()):
            diverged_at = update
        if update % spec.eval_every == 0 or update == spec.updates:
            tick = time.perf_counter()
            final = evaluator.point(algorithm, references)
            evaluation_seconds += time.perf_counter() - tick
            curve.append(curve_point(update, final, losses))
            if final["mean_return"] is not None:
                bar.set_postfix(ret=f"{final['mean_return']:.2f}")
        bar.update(1)
    bar.close()
    evaluator.close()

    scenario = dataset.spec.name
    checkpoint = {"algorithm": spec.algorithm, "config": config.to_dict(), "dataset_id": spec.dataset_id,
                  "scenario": scenario, "scenario_version": dataset.spec.version, "seed": spec.seed,
                  "updates": spec.updates, "reference_scores": references, "policy": algorithm.state_dict()}
    results = {
        "label": label, "algorithm": spec.algorithm, "critic": spec.critic, "preset": spec.preset,
        "overrides": list(spec.overrides), "config": config.to_dict(), "preset_notes": notes,
        "dataset": dataset_record(dataset),
        "seed": spec.seed, "updates": spec.updates, "eval_every": spec.eval_every,
        "eval_episodes": spec.eval_episodes,
        "reference_scores": references,
        "normalized_available": {"random", "expert"} <= references.keys(),
        "curve": curve,
        "final": {"update": curve[-1]["update"], **{k: final[k] for k in ("mean_return", "std_return", "normalized",
                                                                         "returns", "win_rate",
                                                                         "online_evaluation", "offline")
                                             if k in final}},
        "diverged_at": diverged_at,
        "pretrain": pretrain_info,   # losses after fitting generative models before the update loop (bcq/mabcq)
        "wall_time_s": time.perf_counter() - started,
        "profile": {"load_s": load_seconds, "pretrain_s": pretrain_seconds, "updates_s": update_seconds,
                    "evaluation_s": evaluation_seconds,
                    "updates_per_s": spec.updates / update_seconds if update_seconds else None},
        "versions": versions(get_spec(scenario).package_versions()),
        "machine": machine_info(spec.threads),
        "command": spec.command,
        "created": now(),
    }
    if spec.suite is not None:
        results["suite"] = spec.suite
    path = write_run(run_directory(spec.out_dir, spec.dataset_id, label), spec.seed, results, checkpoint)
    return results | {"checkpoint": path.with_suffix(".pt").name, "path": str(path)}


def _train_in_worker(spec: RunSpec) -> dict[str, Any]:
    return train_run(dataclasses.replace(spec, progress=False))


def record_requests(specs: list[RunSpec]) -> None:
    """Check every spec, then record the requested seeds in each configuration's manifest (before training)."""
    requested: dict[tuple[str, str, str, int], list[int]] = {}
    for spec in specs:
        check_run(spec)
        build_config(spec.algorithm, spec.dataset_id, spec.preset, spec.critic, spec.assignments())
        requested.setdefault((spec.out_dir, spec.dataset_id, spec.label(), spec.updates), []).append(spec.seed)
    for (out_dir, dataset_id, label, updates), seeds in requested.items():
        write_manifest(run_directory(out_dir, dataset_id, label), dataset_id, label, updates, seeds,
                       specs[0].command)


def bench(specs: list[RunSpec], workers: int = 1) -> list[dict[str, Any]]:
    """Record the request in each configuration's manifest, then run every spec (in `workers` processes)."""
    if workers < 1:
        raise MadataError(f"--workers must be at least 1, got {workers}")
    record_requests(specs)
    if workers == 1 or len(specs) == 1:
        return [train_run(spec) for spec in specs]
    with multiprocessing.get_context("spawn").Pool(min(workers, len(specs))) as pool:
        return pool.map(_train_in_worker, specs)
