"""What a zoo learner's run folder holds: its counters and snapshots (`TrainerState`) and the
atomic `trainer.pkl` checkpoint of the whole trainer (collectors/td3.py, collectors/mappo.py)."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from madatasets.errors import MadataError

CHECKPOINT_FILE = "trainer.pkl"


@dataclass
class TrainerState:
    step: int = 0
    episode_index: int = 0
    updates: int = 0
    wall_seconds: float = 0.0
    episode_starts: list[int] = field(default_factory=list)        # step at which each episode began
    snapshots: list[dict[str, Any]] = field(default_factory=list)   # step, layers, eval stats, before_updates


def save_checkpoint(trainer: Any, folder: Path, meta: dict[str, Any]) -> None:
    """Write the trainer's whole state to folder/trainer.pkl atomically (write, fsync, rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".{CHECKPOINT_FILE}.{os.getpid()}"
    with open(staging, "wb") as handle:
        pickle.dump({"meta": meta, "trainer": trainer.to_checkpoint()}, handle, protocol=pickle.HIGHEST_PROTOCOL)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, folder / CHECKPOINT_FILE)


def load_checkpoint(folder: Path) -> dict[str, Any] | None:
    path = folder / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError) as error:
        raise MadataError(f"{path} is not a readable training checkpoint ({type(error).__name__}); "
                          f"remove {folder} to start the run again") from None
