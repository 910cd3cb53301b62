"""Benchmark suites: named, versioned dataset lists with a fixed protocol (package data, docs/suites.md).

A suite file (`<name>.json`, schema `madata.suite`) fixes what a result on it means:
the datasets (with the card checksums they must have, where pinned), the update
budget, batch size, evaluation schedule, seeds and episodes, and the paper's
numbers where a paper reports them. `madata bench ALGORITHM` runs the default suite.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from madatasets.errors import MadataError
from madatasets.store import parse_id

SUITE_SCHEMA = "madata.suite"
SUITE_DIR = Path(__file__).parent
# The suite `madata bench ALGORITHM` runs without --dataset/--suite: CPU-minutes (the demo's).
DEFAULT_SUITE = "quick"
OWN_BATCH = "each algorithm's own"   # how a protocol without a batch size reads
SETTINGS = ("offline", "online-tuning")


@dataclass(frozen=True)
class Protocol:
    """How every run of a suite trains and is scored (final policy, no model selection)."""

    updates: int
    eval_every: int
    eval_episodes: int
    seeds: int
    batch_size: int | None = None        # None: each algorithm's own (paper) batch size
    evaluation: str = "final"            # the score is the last evaluation; "best" is only a labelled extra

    def seed_list(self) -> list[int]:
        return list(range(self.seeds))


@dataclass(frozen=True)
class SuiteDataset:
    id: str
    collect_steps: int
    collect_seed: int = 0
    updates: int | None = None           # a per-dataset budget where the protocol has one (MPE vs MuJoCo)
    checksums: dict[str, str] = field(default_factory=dict)   # pinned card checksums; {} = not pinned yet
    reference_scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    name: str
    version: int
    description: str
    setting: str
    protocol: Protocol
    datasets: tuple[SuiteDataset, ...]
    baselines: tuple[str, ...]
    claims_results: bool
    paper: dict[str, Any]
    path: str

    @property
    def dataset_ids(self) -> list[str]:
        return [d.id for d in self.datasets]

    def dataset(self, dataset_id: str) -> SuiteDataset:
        for entry in self.datasets:
            if entry.id == dataset_id:
                return entry
        raise MadataError(f"{dataset_id} is not in suite {self.name}; its datasets: {', '.join(self.dataset_ids)}")

    def updates_for(self, dataset_id: str) -> int:
        return self.dataset(dataset_id).updates or self.protocol.updates

    def paper_score(self, algorithm: str, dataset_id: str) -> tuple[float, float] | None:
        """(mean, std) the paper reports for ALGORITHM on this dataset (ids without version), or None."""
        scores = self.paper.get("scores", {}).get(algorithm, {})
        value = scores.get(dataset_id.rsplit("-v", 1)[0])
        return (float(value[0]), float(value[1])) if value else None

    def tag(self) -> str:
        return f"{self.name}@{self.version}"


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITE_DIR.glob("*.json"))


def load_suite(name_or_path: str, search: tuple[str | Path, ...] = ()) -> Suite:
    """A packaged suite by name (or found in the `search` folders first), or a suite .json file of the user's own."""
    path = Path(name_or_path) if name_or_path.endswith(".json") else SUITE_DIR / f"{name_or_path}.json"
    for folder in search:
        if not name_or_path.endswith(".json") and (Path(folder) / f"{name_or_path}.json").is_file():
            path = Path(folder) / f"{name_or_path}.json"
            break
    if not path.is_file():
        raise MadataError(f"unknown suite {name_or_path!r}; valid: {', '.join(suite_names())} or a suite .json file")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MadataError(f"{path} is not readable JSON ({type(error).__name__})") from None
    return _parse(data, path)


def _parse(data: Any, path: Path) -> Suite:
    def need(condition: bool, what: str) -> None:
        if not condition:
            raise MadataError(f"{path}: {what}")
    need(isinstance(data, dict) and data.get("schema") == SUITE_SCHEMA, f"not a suite file (schema {SUITE_SCHEMA!r})")
    need(isinstance(data.get("name"), str) and isinstance(data.get("version"), int), "needs a name and an int version")
    setting = data.get("setting", "offline")
    need(setting in SETTINGS, f"setting {setting!r}; valid: {', '.join(SETTINGS)}")
    raw = data.get("protocol")
    need(isinstance(raw, dict), "needs a protocol object")
    try:
        protocol = Protocol(updates=int(raw["updates"]), eval_every=int(raw["eval_every"]),
                            eval_episodes=int(raw["eval_episodes"]), seeds=int(raw["seeds"]),
                            batch_size=None if raw.get("batch_size") is None else int(raw["batch_size"]),
                            evaluation=raw.get("evaluation", "final"))
    except (KeyError, TypeError, ValueError) as error:
        raise MadataError(f"{path}: protocol needs integer updates, eval_every, eval_episodes and seeds "
                          f"({type(error).__name__}: {error})") from None
    need(min(protocol.updates, protocol.eval_every, protocol.eval_episodes, protocol.seeds) >= 1,
         "protocol values must be positive")
    need(protocol.evaluation == "final", "protocol evaluation must be 'final' (no model selection)")
    claims = bool(data.get("claims_results", True))
    # The study's protocol: suites that claim results use 10 seeds (quick may use 3).
    need(not claims or protocol.seeds >= 10, "a suite that claims results needs at least 10 seeds")
    datasets = []
    for entry in data.get("datasets", []):
        need(isinstance(entry, dict) and isinstance(entry.get("id"), str), "every dataset needs an id")
        parse_id(entry["id"])            # a bad id is the same one-line error as anywhere else
        datasets.append(SuiteDataset(id=entry["id"], collect_steps=int(entry.get("collect_steps", 1_000_000)),
                                     collect_seed=int(entry.get("collect_seed", 0)),
                                     updates=entry.get("updates"), checksums=dict(entry.get("checksums", {})),
                                     reference_scores={k: float(v) for k, v in
                                                       entry.get("reference_scores", {}).items()}))
    need(bool(datasets), "lists no datasets")
    for algorithm, scores in data.get("paper", {}).get("scores", {}).items():
        for dataset, value in scores.items():
            need(isinstance(value, list) and len(value) == 2 and all(math.isfinite(v) for v in value),
                 f"paper score of {algorithm} on {dataset} must be [mean, std]")
    return Suite(name=data["name"], version=data["version"], description=data.get("description", ""),
                 setting=setting, protocol=protocol, datasets=tuple(datasets),
                 baselines=tuple(data.get("baselines", ["bc"])), claims_results=claims,
                 paper=data.get("paper", {}), path=str(path))
