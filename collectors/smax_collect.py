"""`madata collect` for the SMAX scenarios: vectorized collection into the discrete schema.

The discrete schema is the continuous one with integer actions and masks (docs/store.md):

    actions (T, N) int16              legal_actions (T, N, A) bool (the masks the actions obeyed)
    final_legal_actions (E, N, A)     won (E,) bool (every enemy dead, some ally alive)

plus observations, rewards, terminations, truncations, states, behavior_ids,
episode_ends, final_observations and final_states exactly as for every scenario.
Episodes come from `madatasets.smax_vector.VectorRollout` (E slots in one jitted
scan); the arrays depend only on the seed and the step budget, never on the slots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from madatasets.cards import build_card, return_statistics
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioSpec, episode_return
from madatasets.smax import SMAX_MAPS, single_thread_flags
from madatasets.store import DatasetId, Store

SMAX_QUALITIES = ("random",)
DEFAULT_SLOTS = 256
POLICY_DESCRIPTIONS = {"random": [{"id": "uniform-legal-random", "checksum": None,
                                   "description": "uniform over each ally's legal actions"}]}


def assemble_discrete(episodes: list[dict[str, Any]], n_agents: int) -> dict[str, np.ndarray]:
    """Concatenate SMAX episodes into the store's discrete schema."""
    lengths = np.array([len(e["actions"]) for e in episodes], dtype=np.int64)
    episode_ends = np.cumsum(lengths)
    total, last = int(episode_ends[-1]), episode_ends - 1
    terminations = np.zeros((total, n_agents), dtype=bool)
    truncations = np.zeros((total, n_agents), dtype=bool)
    terminations[last[[e["terminated"] for e in episodes]]] = True
    truncations[last[[e["truncated"] and not e["terminated"] for e in episodes]]] = True
    return {
        "observations": np.concatenate([e["observations"][:-1] for e in episodes]),
        "actions": np.concatenate([e["actions"] for e in episodes]).astype(np.int16),
        "legal_actions": np.concatenate([e["legal_actions"][:-1] for e in episodes]),
        "rewards": np.concatenate([e["rewards"] for e in episodes]),
        "terminations": terminations,
        "truncations": truncations,
        "states": np.concatenate([e["states"][:-1] for e in episodes]),
        "behavior_ids": np.zeros((total, n_agents), dtype=np.int16),
        "episode_ends": episode_ends,
        "final_observations": np.stack([e["observations"][-1] for e in episodes]),
        "final_states": np.stack([e["states"][-1] for e in episodes]),
        "final_legal_actions": np.stack([e["legal_actions"][-1] for e in episodes]),
        "won": np.array([e["won"] for e in episodes], dtype=bool),
    }


def collect_episodes(spec: ScenarioSpec, quality: str, steps: int | None, seed: int, slots: int = DEFAULT_SLOTS,
                     progress: bool = False, description: str = "collect",
                     episodes: int | None = None) -> list[dict[str, Any]]:
    if quality not in SMAX_QUALITIES:
        raise MadataError(f"quality {quality!r} is not available for {spec.name} yet; valid: "
                          f"{', '.join(SMAX_QUALITIES)}")
    if slots < 1:
        raise MadataError(f"slots must be at least 1, got {slots}")
    single_thread_flags()
    from madatasets.smax_vector import vector_rollout
    rollout = vector_rollout(SMAX_MAPS[spec.name][0], quality, slots)
    bar = tqdm(total=steps or episodes, unit="step", desc=description, disable=not progress, leave=False)

    def advance(done: int) -> None:
        bar.update(max(0, min(done, bar.total) - bar.n))
    try:
        return rollout.run(seed, steps=steps, episodes=episodes, progress=advance if steps else None)
    finally:
        bar.close()


def collect_smax(spec: ScenarioSpec, quality: str, steps: int, seed: int, store: str | Store | None,
                 overwrite: bool, version: int | None, progress: bool, slots: int = DEFAULT_SLOTS) -> Path:
    """Collect `<scenario>/<quality>-v<version>` (version 0 unless given); returns its path."""
    if quality not in SMAX_QUALITIES:
        raise MadataError(f"quality {quality!r} is not available for {spec.name} yet; valid: "
                          f"{', '.join(SMAX_QUALITIES)}")
    if steps < 1:
        raise MadataError(f"--env-steps must be a positive number of environment steps, got {steps}")
    version = 0 if version is None else version
    store = store if isinstance(store, Store) else Store(store, create=True)
    if not store.exists:
        store = Store(store.root, create=True)
    dataset_id = DatasetId(spec.name, quality, version)
    with store.writing(dataset_id, overwrite) as write:
        episodes = collect_episodes(spec, quality, steps, seed, slots, progress, str(dataset_id))
        arrays = assemble_discrete(episodes, spec.n_agents)
        complete = [e for e in episodes if not e["budget_cut"]] or episodes
        card = build_card(
            dataset_id=str(dataset_id), spec_dict=spec.to_dict(), quality=quality, version=version,
            behavior_policies=POLICY_DESCRIPTIONS[quality], seed=seed, total_steps=int(arrays["episode_ends"][-1]),
            total_episodes=len(episodes),
            returns=return_statistics(np.array([episode_return(e["rewards"]) for e in complete])),
            reference_scores=spec.reference_scores, layout="joint",
            collection={"steps_requested": steps, "episode_seeding": "fold_in(PRNGKey(seed), episode_index)",
                        "vectorized": {"slots": slots, "note": "the arrays do not depend on the slot count"},
                        "action_noise": None})
        card["win_rate"] = float(np.mean([e["won"] for e in complete]))
        card["reference_details"] = spec.reference_details
        return write(arrays, card)
