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

from collectors.smax_actor import TIER_EPSILON
from madatasets.cards import build_card, return_statistics
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioSpec, episode_returns
from madatasets.smax import SMAX_MAPS, single_thread_flags
from madatasets.smax_vector import EpisodeBlock, block_of_episodes
from madatasets.store import DatasetId, Store

SMAX_QUALITIES = ("random", "medium-replay", "medium", "expert", "medium-expert")
DEFAULT_SLOTS = 256
RANDOM_POLICY = {"id": "uniform-legal-random", "checksum": None, "description": "uniform over each ally's legal actions"}
# The zoo tiers act epsilon-greedily with the zoo policy (epsilon 0.05 uniform over legal actions;
# the discrete counterpart of the continuous tiers' Gaussian action noise; collectors/smax_actor.py);
# medium-expert is half medium, half expert episodes, each part from its own seed.
TIER_PARTS = {"medium": ("medium",), "expert": ("expert",), "medium-expert": ("medium", "expert")}


def _part_seed(seed: int, part: int) -> int:
    return int(np.random.SeedSequence([seed, 0, part]).generate_state(1)[0] & 0x7FFFFFFF)


def tier_policies(spec: ScenarioSpec, quality: str, zoo: Path | None = None) -> list[tuple[Any, dict[str, Any]]]:
    """(JaxPolicy, policy record) of each part of a tier, in part order."""
    from madatasets.smax import core
    from madatasets.smax_vector import random_policy
    smax = core(SMAX_MAPS[spec.name][0])
    if quality == "random":
        return [(random_policy(smax), RANDOM_POLICY)]
    from collectors.zoo_index import load_zoo_actor, zoo_entry
    if quality == "medium-replay":
        from collectors.smax_medium_replay import replay_runs
        entry = zoo_entry(spec.name, zoo)
        if "medium_replay" not in entry:
            raise MadataError(f"{spec.name}'s zoo entry has no medium-replay runs yet; add them with "
                              f"`madata train-behavior {spec.name} --seed K --for-medium-replay`")
        return [(None, {"id": f"smax-mappo-training-seed{run['seed']}", "checksum": run["sha256"],
                        "description": f"the zoo's MAPPO learner while training (actions sampled from its "
                                       f"policy), seed {run['seed']}, steps 0 to {run['stop_step']}"})
                for run in replay_runs(entry)]
    parts = []
    for role in TIER_PARTS[quality]:
        actor, info = load_zoo_actor(spec.name, role, zoo)
        parts.append((actor.jax_policy(smax, "epsilon", TIER_EPSILON),
                      {"id": info["id"], "checksum": info["sha256"],
                       "description": f"the zoo's {role} policy (step {info['step']}, greedy win rate "
                                      f"{info['win_rate']:.3f}), greedy with probability {1 - TIER_EPSILON:g}, "
                                      f"else uniform over the legal actions"}))
    return parts


def assemble_discrete(parts: list[EpisodeBlock], n_agents: int) -> dict[str, np.ndarray]:
    """The store's discrete schema from the tier's parts, in part order; behaviour ids name the part."""
    ends = np.concatenate([p.ends + offset for p, offset in
                           zip(parts, np.cumsum([0] + [len(p.actions) for p in parts[:-1]]))])
    total, last = int(ends[-1]), ends - 1
    terminated = np.concatenate([p.terminated for p in parts])
    truncated = np.concatenate([p.truncated for p in parts]) & ~terminated
    terminations = np.zeros((total, n_agents), dtype=bool)
    truncations = np.zeros((total, n_agents), dtype=bool)
    terminations[last[terminated]] = True
    truncations[last[truncated]] = True

    def joined(field: str) -> np.ndarray:
        return parts[0]._asdict()[field] if len(parts) == 1 else np.concatenate([p._asdict()[field] for p in parts])
    return {
        "observations": joined("observations"), "actions": joined("actions"),
        "legal_actions": joined("legal_actions"), "rewards": joined("rewards"),
        "terminations": terminations, "truncations": truncations, "states": joined("states"),
        "behavior_ids": np.concatenate([np.full((len(p.actions), n_agents), k, np.int16) for k, p in enumerate(parts)]),
        "episode_ends": ends.astype(np.int64),
        "final_observations": joined("final_observations"), "final_states": joined("final_states"),
        "final_legal_actions": joined("final_legal_actions"), "won": joined("won").astype(bool),
    }


def collect_episodes(spec: ScenarioSpec, quality: str, steps: int | None, seed: int, slots: int = DEFAULT_SLOTS,
                     progress: bool = False, description: str = "collect",
                     episodes: int | None = None, zoo: Path | None = None) -> list[EpisodeBlock]:
    """Episodes of a tier, one block per part: `steps` steps (or `episodes` whole ones) split
    evenly over its parts, each part its own vectorized rollout from its own seed."""
    if quality not in SMAX_QUALITIES:
        raise MadataError(f"quality {quality!r} is not available for {spec.name} yet; valid: "
                          f"{', '.join(SMAX_QUALITIES)}")
    if slots < 1:
        raise MadataError(f"slots must be at least 1, got {slots}")
    single_thread_flags()
    if quality == "medium-replay":
        # The tier is what the training runs executed, whatever `steps` says (the card records both).
        from collectors.smax_medium_replay import regenerate
        episodes_run, report = regenerate(spec.name, zoo)
        if not report["reproduced"]:
            raise MadataError(f"{spec.name}: re-running the zoo's training did not reproduce its recorded "
                              f"checksums (another CPU or jax build?); {report['runs']}")
        return [block_of_episodes(episodes_run)]
    from madatasets.smax import core
    from madatasets.smax_vector import VectorRollout, vector_rollout
    parts = tier_policies(spec, quality, zoo)
    total = steps if steps is not None else episodes
    shares = [total // len(parts) + (1 if k < total % len(parts) else 0) for k in range(len(parts))]
    bar = tqdm(total=total, unit="step", desc=description, disable=not progress, leave=False)
    collected: list[EpisodeBlock] = []
    try:
        for k, ((policy, _), share) in enumerate(zip(parts, shares)):
            done_before = bar.n

            def advance(done: int) -> None:
                bar.update(max(0, min(done_before + done, bar.total) - bar.n))
            map_name = SMAX_MAPS[spec.name][0]
            # The random policy's program is cached per process; a zoo actor's weights are part of its own.
            rollout = (vector_rollout(map_name, "random", slots) if quality == "random"
                       else VectorRollout(core(map_name), policy, slots))
            part_seed = seed if len(parts) == 1 else _part_seed(seed, k)
            collected.append(rollout.run_block(part_seed, steps=share if steps is not None else None,
                                               episodes=share if steps is None else None,
                                               progress=advance if steps else None))
    finally:
        bar.close()
    return collected


def collect_smax(spec: ScenarioSpec, quality: str, steps: int, seed: int, store: str | Store | None,
                 overwrite: bool, version: int | None, progress: bool, slots: int = DEFAULT_SLOTS,
                 zoo: Path | None = None) -> Path:
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
        parts = collect_episodes(spec, quality, steps, seed, slots, progress, str(dataset_id), zoo=zoo)
        arrays = assemble_discrete(parts, spec.n_agents)
        # A budget-cut last episode is incomplete: never in the return statistics or the win rate.
        complete = ~np.concatenate([p.budget_cut for p in parts])
        returns = episode_returns(arrays["rewards"], arrays["episode_ends"])
        references = spec.references_for(version)   # (scores, details) for the card
        card = build_card(
            dataset_id=str(dataset_id), spec_dict=spec.to_dict(), quality=quality, version=version,
            behavior_policies=[record for _, record in tier_policies(spec, quality, zoo)], seed=seed, total_steps=int(arrays["episode_ends"][-1]),
            total_episodes=len(arrays["episode_ends"]),
            returns=return_statistics(returns[complete]),
            reference_scores=references[0], layout="joint",
            collection={"steps_requested": steps,
                        "episode_seeding": "fold_in(PRNGKey(seed), episode_index)" if quality != "medium-expert" else
                                           "fold_in(PRNGKey(part_seed), episode_index), part_seed from "
                                           "SeedSequence([seed, 0, part]); half the steps per part",
                        "acting": {"random": "uniform legal", "medium-replay": "the learner's sampled actions"}.get(
                            quality, f"epsilon-greedy, epsilon {TIER_EPSILON}"),
                        "vectorized": {"slots": slots, "note": "the arrays do not depend on the slot count"},
                        "action_noise": None})
        card["win_rate"] = float(np.mean(arrays["won"][complete])) if complete.any() else None
        if quality != "random":
            card["zoo_version"] = version
        card["reference_details"] = references[1]
        return write(arrays, card)
