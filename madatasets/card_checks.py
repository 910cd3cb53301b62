"""What every read of a stored dataset checks before trusting it: the group's attributes are
readable, the card matches its digest, the integrity record matches the card's, and the
card's counts match the arrays. Used by the store and by the hub's remote reads."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from madatasets.errors import ChecksumError
from madatasets.ids import DatasetId
from madatasets.integrity import CHUNK_HASH, card_digest, integrity_digest
from madatasets.writer import STORE_LAYOUT

def corrupt(dataset_id: Any, what: str) -> ChecksumError:
    return ChecksumError(f"{dataset_id}: {what}; the dataset is corrupt (run `madata verify`, "
                         f"re-collect it with --overwrite)")


def stored_arrays(group_path: Path) -> list[str]:
    """Names of the arrays under a group directory ('agent_0/observations' for nested ones)."""
    names = []
    for meta_path in sorted(group_path.rglob("zarr.json")):
        if meta_path.parent == group_path or "c" in meta_path.relative_to(group_path).parts[:-1]:
            continue
        with contextlib.suppress(OSError, ValueError):
            if json.loads(meta_path.read_text()).get("node_type") == "array":
                names.append(meta_path.parent.relative_to(group_path).as_posix())
    return names


def read_group_attributes(dataset_id: DatasetId, group_path: Path) -> dict[str, Any]:
    try:
        meta = json.loads((group_path / "zarr.json").read_text())
        attributes = meta["attributes"]
        card = attributes["card"]
        if not isinstance(card, dict) or not isinstance(card.get("checksums"), dict):
            raise TypeError("the card is not an object with a checksum table")
    except FileNotFoundError:
        raise corrupt(dataset_id, "its zarr.json is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise corrupt(dataset_id, f"its zarr.json is unreadable ({type(error).__name__}: {error})") from None
    return attributes


def check_card(dataset_id: DatasetId, attributes: dict[str, Any]) -> dict[str, Any]:
    card = attributes["card"]
    expected = attributes.get("card_sha256")
    if expected is None and attributes.get("store_layout", 1) >= STORE_LAYOUT:
        raise corrupt(dataset_id, "its card digest is missing")
    if expected is not None and card_digest(card) != expected:
        raise corrupt(dataset_id, "its card does not match the card digest (edited or damaged)")
    if not card["checksums"]:
        raise corrupt(dataset_id, "its card's checksum table is empty")
    return card


def check_integrity(dataset_id: DatasetId, attributes: dict[str, Any]) -> dict[str, Any] | None:
    """The per-array integrity records, checked against the card's digest; None when the
    dataset has none (written before them) or names a hash we do not know (full check then)."""
    if "integrity" not in attributes:
        return None
    record = attributes["integrity"]
    if attributes.get("integrity_sha256") != integrity_digest(attributes.get("card_sha256"), record):
        raise corrupt(dataset_id, "its integrity record does not match its digest (edited or damaged)")
    if not isinstance(record, dict) or record.get("hash") != CHUNK_HASH or not isinstance(record.get("arrays"), dict):
        return None
    return record["arrays"]


def check_consistency(dataset_id: DatasetId, card: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """The card's counts are those of the arrays (the checksums cannot say so)."""
    prefixes = sorted({name.rpartition("/")[0] for name in arrays})
    for prefix in prefixes:
        missing = [name for name in ("observations", "actions", "episode_ends")
                   if (f"{prefix}/{name}" if prefix else name) not in arrays]
        if missing:
            raise corrupt(dataset_id, f"arrays {', '.join(missing)} are not covered by the card")
    key = (lambda p, n: f"{p}/{n}" if p else n)
    steps = sum(len(arrays[key(p, "actions")]) for p in prefixes)
    episodes = sum(len(arrays[key(p, "episode_ends")]) for p in prefixes)
    if steps != card.get("total_steps") or episodes != card.get("total_episodes"):
        raise corrupt(dataset_id, f"its card says {card.get('total_steps')} steps and {card.get('total_episodes')} "
                                   f"episodes, its arrays hold {steps} and {episodes}")
