"""The zoo on disk: `index.json` (one entry per scenario: config, checkpoints, policies
with sha256) beside `<scenario>/{early,medium,expert}.npz`."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from collectors.actors import MLPActor
from madatasets.errors import ChecksumError, MadataError
from madatasets.scenarios import get_spec, scenario_names

ZOO_DIR = Path(__file__).with_name("zoo")
ZOO_INDEX = "index.json"
ZOO_FORMAT = 1
# The zoo's version: what "medium" or "expert" means. New behaviour policies bump it;
# datasets collected from zoo version N get `-vN` ids and record it on their card.
# Version 0: SB3 TD3 64x64 with 7.5k-200k steps (see docs/zoo.md, history).
ZOO_VERSION = 1
ROLES = ("early", "medium", "expert")


def read_zoo_index(zoo_dir: Path = ZOO_DIR) -> dict[str, Any]:
    path = Path(zoo_dir) / ZOO_INDEX
    if not path.exists():
        return {"format": ZOO_FORMAT, "zoo_version": ZOO_VERSION, "scenarios": {}}
    index = json.loads(path.read_text())
    index.setdefault("zoo_version", 0)   # indexes written before versioning are version 0
    return index


def update_zoo_index(zoo_dir: Path, scenario: str, entry: dict[str, Any]) -> None:
    """Set one scenario's entry. Trainings of different scenarios may finish at the same time:
    the read-modify-write holds an exclusive lock, so no entry written by another is lost."""
    zoo_dir = Path(zoo_dir)
    zoo_dir.mkdir(parents=True, exist_ok=True)
    with open(zoo_dir / f".{ZOO_INDEX}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        index = read_zoo_index(zoo_dir)
        if index["zoo_version"] != ZOO_VERSION and index["scenarios"]:
            raise MadataError(f"the zoo at {zoo_dir} is version {index['zoo_version']}, this code writes version "
                              f"{ZOO_VERSION}; train into an empty --zoo folder")
        index["zoo_version"] = ZOO_VERSION
        index["scenarios"][scenario] = entry
        index["scenarios"] = dict(sorted(index["scenarios"].items()))
        staging = zoo_dir / f".{ZOO_INDEX}.{os.getpid()}"
        staging.write_text(json.dumps(index, indent=2) + "\n")
        os.replace(staging, zoo_dir / ZOO_INDEX)


def zoo_dir_for_version(version: int) -> Path:
    """The shipped zoo that makes `-v<version>` datasets: the current one (`collectors/zoo`)
    or an earlier one kept beside it (`collectors/zoo-v<N>`), so old datasets stay reproducible."""
    if read_zoo_index(ZOO_DIR)["zoo_version"] == version:
        return ZOO_DIR
    archived = ZOO_DIR.with_name(f"zoo-v{version}")
    if (archived / ZOO_INDEX).exists() and read_zoo_index(archived)["zoo_version"] == version:
        return archived
    shipped = sorted({read_zoo_index(ZOO_DIR)["zoo_version"]} | {
        read_zoo_index(path)["zoo_version"] for path in ZOO_DIR.parent.glob("zoo-v*") if (path / ZOO_INDEX).exists()})
    raise MadataError(f"no shipped zoo of version {version}; shipped zoo versions: "
                      f"{', '.join(str(v) for v in shipped)}")


def zoo_entry(scenario: str, zoo_dir: Path | None = None) -> dict[str, Any]:
    """The zoo's record of `scenario`; MadataError if it has no trained policy."""
    spec = get_spec(scenario)
    zoo_dir = Path(zoo_dir) if zoo_dir is not None else ZOO_DIR
    scenarios = read_zoo_index(zoo_dir)["scenarios"]
    entry = scenarios.get(scenario)
    if entry is None:
        trained = ", ".join(scenarios) or "none"
        raise MadataError(f"no behaviour policy for {scenario} in the zoo at {zoo_dir} (trained: {trained}); "
                          f"train one with `madata train-behavior {scenario}`")
    if entry["scenario_version"] != spec.version:
        raise MadataError(f"the zoo policy of {scenario} was trained on scenario version "
                          f"{entry['scenario_version']}, the registry has version {spec.version}; retrain it")
    return entry


def load_zoo_actor(scenario: str, role: str, zoo_dir: Path | None = None) -> tuple[Any, dict[str, Any]]:
    """The zoo checkpoint `role` of `scenario`, checked against its recorded sha256: an `MLPActor`
    (continuous scenarios) or a `SmaxActor` (SMAX, `algorithm` smax-mappo)."""
    if role not in ROLES:
        raise MadataError(f"unknown zoo role {role!r}; valid: {', '.join(ROLES)}")
    zoo_dir = Path(zoo_dir) if zoo_dir is not None else ZOO_DIR
    entry = zoo_entry(scenario, zoo_dir)
    info = entry["policies"][role]
    if entry["algorithm"] == "smax-mappo":
        from collectors.smax_actor import SmaxActor
        actor: Any = SmaxActor.load(zoo_dir / info["file"])
    else:
        actor = MLPActor.load(zoo_dir / info["file"])
    if actor.checksum != info["sha256"]:
        raise ChecksumError(f"zoo policy {info['id']} checksum mismatch (expected {info['sha256'][:16]}..., "
                            f"got {actor.checksum[:16]}...); the file {zoo_dir / info['file']} is corrupt")
    return actor, info


def zoo_scenarios(zoo_dir: Path | None = None) -> list[str]:
    scenarios = read_zoo_index(Path(zoo_dir) if zoo_dir is not None else ZOO_DIR)["scenarios"]
    return [name for name in scenario_names() if name in scenarios]
