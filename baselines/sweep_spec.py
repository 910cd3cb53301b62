"""A sweep file (`madata sweep SPEC.yaml`): algorithms x datasets x seeds x --set grids (docs/sweeps.md)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baselines.bench import RunSpec
from madatasets.errors import MadataError

KEYS = {"name", "algorithms", "datasets", "suite", "seeds", "updates", "eval_every", "eval_episodes", "preset",
        "critic", "set", "grid", "out", "store", "resources", "retries", "threads"}


@dataclass(frozen=True)
class Sweep:
    name: str
    runs: tuple[RunSpec, ...]
    cpus: float
    gpus: float
    retries: int


def _fail(path: Path, what: str) -> MadataError:
    return MadataError(f"{path}: {what}")


def load_sweep(path: str | Path, command: str = "", overrides: tuple[str, ...] = ()) -> Sweep:
    """Parse and expand a sweep file; any problem is one line naming the key and what is valid."""
    import yaml
    path = Path(path)
    if not path.is_file():
        raise MadataError(f"no sweep file at {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise _fail(path, f"not readable YAML ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise _fail(path, "a sweep file is a YAML mapping (algorithms, datasets, seeds, ...)")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise _fail(path, f"unknown key {unknown[0]!r}; valid: {', '.join(sorted(KEYS))}")
    algorithms = data.get("algorithms")
    if not isinstance(algorithms, list) or not algorithms or not all(isinstance(a, str) for a in algorithms):
        raise _fail(path, "'algorithms' must be a non-empty list of names, e.g. [bc, omar]")
    suite = None
    if data.get("suite") is not None:
        from baselines.suites import load_suite
        suite = load_suite(str(data["suite"]))
    datasets = data.get("datasets", suite.dataset_ids if suite else None)
    if not isinstance(datasets, list) or not datasets or not all(isinstance(d, str) for d in datasets):
        raise _fail(path, "'datasets' must be a non-empty list of dataset ids (or give 'suite')")
    protocol = suite.protocol if suite else None
    seeds = data.get("seeds", protocol.seeds if protocol else 3)
    if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1:
        seeds = list(range(seeds))
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise _fail(path, "'seeds' must be a positive count or a list of non-negative seeds")
    grid = data.get("grid") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise _fail(path, "'grid' maps a hyperparameter to a non-empty list of values, e.g. {tau: [0.5, 0.9]}")
    fixed = data.get("set") or []
    if isinstance(fixed, dict):
        fixed = [f"{k}={_value(v)}" for k, v in fixed.items()]
    if not isinstance(fixed, list):
        raise _fail(path, "'set' is a list of key=value strings or a mapping")
    resources = data.get("resources") or {}
    if not isinstance(resources, dict) or set(resources) - {"cpus", "gpus"}:
        raise _fail(path, "'resources' has cpus and gpus (per run), e.g. {cpus: 1, gpus: 0}")
    retries = data.get("retries", 2)
    if not isinstance(retries, int) or retries < 0:
        raise _fail(path, "'retries' must be a non-negative integer")
    batch = (f"batch_size={protocol.batch_size}",) if protocol and protocol.batch_size else ()
    runs = []
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] or [{}]
    for algorithm, dataset_id, combo, seed in itertools.product(algorithms, datasets, combos, seeds):
        updates = int(data.get("updates", suite.updates_for(dataset_id) if suite else 10_000))
        assigned = tuple(str(o) for o in fixed) + tuple(f"{k}={_value(v)}" for k, v in combo.items()) + overrides
        record = None
        if suite is not None:         # a sweep over a suite is labelled off-protocol where it changes it
            from baselines.suite_bench import deviations
            found = deviations(suite, datasets, seeds, data.get("updates"), data.get("eval_every"),
                               data.get("eval_episodes"), assigned)
            record = {"name": suite.name, "version": suite.version, "on_protocol": not found, "deviations": found}
        runs.append(RunSpec(algorithm=algorithm, dataset_id=dataset_id, seed=seed, updates=updates,
                            eval_every=min(int(data.get("eval_every", protocol.eval_every if protocol else 1000)),
                                           updates),
                            eval_episodes=int(data.get("eval_episodes", protocol.eval_episodes if protocol else 32)),
                            preset=str(data.get("preset", "paper")), critic=str(data.get("critic", "decentralized")),
                            overrides=assigned, out_dir=str(data.get("out", "results")),
                            store=None if data.get("store") is None else str(data["store"]), progress=False,
                            threads=int(data.get("threads", 1)), command=command,
                            protocol_overrides=batch, suite=record))
    return Sweep(name=str(data.get("name", path.stem)), runs=tuple(runs), cpus=float(resources.get("cpus", 1)),
                 gpus=float(resources.get("gpus", 0)), retries=retries)


def _value(value: Any) -> str:
    """A YAML value as --set writes it (lists as comma-separated, booleans lower case)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(_value(v) for v in value)
    return str(value)
