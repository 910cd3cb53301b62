"""What every importer does once it has madata arrays: the card and the atomic write."""

from __future__ import annotations

from typing import Any

import numpy as np

from madatasets.cards import build_card, return_statistics
from madatasets.scenarios import ScenarioSpec, episode_return
from madatasets.store import DatasetId, Store


def write_imported(store: Store, parsed: DatasetId, spec: ScenarioSpec, arrays: dict[str, np.ndarray],
                   behavior: dict[str, Any], source: str, provenance: dict[str, Any], overwrite: bool,
                   seed: int = 0) -> dict[str, Any]:
    """Build the imported dataset's card (returns over its episodes, no reference scores: the
    source's scale is not ours) with `provenance`, write it through the store; returns the card."""
    starts = np.r_[0, arrays["episode_ends"][:-1]]
    returns = return_statistics(np.array([episode_return(arrays["rewards"][s:e])
                                          for s, e in zip(starts, arrays["episode_ends"])]))
    policy = {"id": behavior["id"], "checksum": None, "description": behavior["description"]}
    card = build_card(dataset_id=str(parsed), spec_dict=spec.to_dict(), quality=parsed.quality,
                      version=parsed.version, behavior_policies=[policy], seed=seed,
                      total_steps=len(arrays["actions"]), total_episodes=len(arrays["episode_ends"]),
                      returns=returns, reference_scores={}, layout="joint",
                      collection={"imported": True, "source": source})
    card["provenance"] = provenance
    store.write(parsed, arrays, card, overwrite=overwrite)
    return card
