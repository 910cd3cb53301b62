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

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm.auto import tqdm

from collectors.smax_actor import TIER_EPSILON
from collectors.smax_sink import DiscreteSink
from collectors.tiers import MIXED_PARTS, mixed_assignment, part_seed, split_steps
from madatasets.cards import build_card, return_statistics
from madatasets.errors import MadataError
from madatasets.resources import check_collection_fits
from madatasets.scenarios import ScenarioSpec
from madatasets.smax import SMAX_MAPS, single_thread_flags
from madatasets.smax_vector import EpisodeBlock, block_of_episodes
from madatasets.store import DatasetId, Store

SMAX_QUALITIES = ("random", "medium-replay", "medium", "expert", "medium-expert", "mixed")
DEFAULT_SLOTS = 256
# Rows per streamed block: memory holds about one block (smax-8m: ~0.5 GB) whatever --env-steps is.
STREAM_ROWS = 32_768
RANDOM_POLICY = {"id": "uniform-legal-random", "checksum": None, "description": "uniform over each ally's legal actions"}
# The zoo tiers act epsilon-greedily with the zoo policy (epsilon 0.05 uniform over legal actions;
# the discrete counterpart of the continuous tiers' Gaussian action noise; collectors/smax_actor.py);
# medium-expert is half medium, half expert episodes, each part from its own seed.
TIER_PARTS = {"medium": ("medium",), "expert": ("expert",), "medium-expert": ("medium", "expert")}
MIXED_ROLES = ("early", "medium", "expert")


@dataclass(frozen=True)
class Part:
    """One vectorized rollout of a tier."""

    policy: Any                 # JaxPolicy; None: uniform legal random (the process's cached program)
    steps: int
    seed: int
    behavior: tuple[int, ...]   # each ally's behaviour id in this part's rows
    args: Any = None            # the policy's program inputs for this part (mixed: the assignment)


@dataclass
class TierPlan:
    datasets: dict[str, list[Part]]   # "" for a joint dataset, "agent_i/" for mixed's B_i
    behavior_policies: list[dict[str, Any]]
    collection: dict[str, Any]        # the card's description of the parts


def _zoo_record(role: str, info: dict[str, Any]) -> dict[str, Any]:
    return {"id": info["id"], "checksum": info["sha256"],
            "description": f"the zoo's {role} policy (step {info['step']}, greedy win rate "
                           f"{info['win_rate']:.3f}), greedy with probability {1 - TIER_EPSILON:g}, "
                           f"else uniform over the legal actions"}


def tier_plan(spec: ScenarioSpec, quality: str, steps: int, seed: int, zoo: Path | None = None) -> TierPlan:
    """The rollouts of a tier (every tier but medium-replay, which re-runs training)."""
    from madatasets.smax import core
    smax, n = core(SMAX_MAPS[spec.name][0]), spec.n_agents
    if quality == "random":
        return TierPlan({"": [Part(None, steps, seed, (0,) * n)]}, [RANDOM_POLICY], {})
    from collectors.zoo_index import load_zoo_actor
    if quality == "mixed":
        return _mixed_plan(spec, steps, seed, zoo)
    roles = TIER_PARTS[quality]
    loaded = [load_zoo_actor(spec.name, role, zoo) for role in roles]
    shares = [steps // len(roles) + (1 if k < steps % len(roles) else 0) for k in range(len(roles))]
    parts = [Part(actor.jax_policy(smax, "epsilon", TIER_EPSILON), share,
                  seed if len(roles) == 1 else part_seed(seed, 0, k), (k,) * n)
             for k, ((actor, _), share) in enumerate(zip(loaded, shares))]
    collection = {} if len(roles) == 1 else {
        "episode_seeding": "fold_in(PRNGKey(part_seed), episode_index), part_seed from "
                           "SeedSequence([seed, 0, part]); half the steps per part"}
    return TierPlan({"": parts}, [_zoo_record(role, info) for role, (_, info) in zip(roles, loaded)], collection)


def _mixed_plan(spec: ScenarioSpec, steps: int, seed: int, zoo: Path | None) -> TierPlan:
    """MABCQ's decentralized datasets, as for the continuous scenarios (collectors/tiers.py):
    one B_i per ally, its parts' steps in MIXED_PARTS's proportions, ally i acting with its role."""
    from collectors.smax_actor import assigned_policy
    from collectors.zoo_index import load_zoo_actor
    loaded = [load_zoo_actor(spec.name, role, zoo) for role in MIXED_ROLES]
    policy = assigned_policy([actor for actor, _ in loaded], np.zeros(spec.n_agents, np.int64), "epsilon",
                             TIER_EPSILON)
    counts = split_steps(steps, [fraction for _, fraction in MIXED_PARTS])
    datasets, plan = {}, []
    for agent in range(spec.n_agents):
        parts = []
        for k, ((part, _), count) in enumerate(zip(MIXED_PARTS, counts)):
            roles = mixed_assignment(part, agent, spec.n_agents)
            parts.append(Part(policy, count, part_seed(seed, agent, k), tuple(int(r) for r in roles),
                              np.asarray(roles, dtype=np.int32)))
            plan.append({"agent_dataset": agent, "part": part, "steps": count, "seed": part_seed(seed, agent, k),
                         "policy_of_agent": [MIXED_ROLES[r] for r in roles]})
        datasets[f"agent_{agent}/"] = parts
    return TierPlan(datasets, [_zoo_record(role, info) for role, (_, info) in zip(MIXED_ROLES, loaded)],
                    {"steps_per_agent_dataset": steps, "mixture": dict(MIXED_PARTS), "parts": plan,
                     "episode_seeding": "fold_in(PRNGKey(part_seed), episode_index), part_seed from "
                                        "SeedSequence([seed, agent, part])"})


def _medium_replay(spec: ScenarioSpec, zoo: Path | None) -> tuple[EpisodeBlock, list[dict[str, Any]]]:
    """The tier is what the training runs executed, whatever `steps` says (the card records both)."""
    from collectors.smax_medium_replay import regenerate, replay_runs
    from collectors.zoo_index import zoo_entry
    entry = zoo_entry(spec.name, zoo)
    if "medium_replay" not in entry:
        raise MadataError(f"{spec.name}'s zoo entry has no medium-replay runs yet; add them with "
                          f"`madata train-behavior {spec.name} --seed K --for-medium-replay`")
    episodes_run, report = regenerate(spec.name, zoo)
    if not report["reproduced"]:
        raise MadataError(f"{spec.name}: re-running the zoo's training did not reproduce its recorded "
                          f"checksums (another CPU or jax build?); {report['runs']}")
    records = [{"id": f"smax-mappo-training-seed{run['seed']}", "checksum": run["sha256"],
                "description": f"the zoo's MAPPO learner while training (actions sampled from its "
                               f"policy), seed {run['seed']}, steps 0 to {run['stop_step']}"}
               for run in replay_runs(entry)]
    return block_of_episodes(episodes_run), records


def stream_plan(spec: ScenarioSpec, plan: TierPlan, slots: int = DEFAULT_SLOTS, progress: bool = False,
                description: str = "collect", block_rows: int | None = None
                ) -> Iterator[tuple[str, tuple[int, ...], EpisodeBlock]]:
    """Every part's rollout as (dataset prefix, behaviour ids, block of whole episodes), in the
    plan's order, about `block_rows` rows at a time; parts with one policy share one compiled program."""
    if slots < 1:
        raise MadataError(f"slots must be at least 1, got {slots}")
    block_rows = STREAM_ROWS if block_rows is None else block_rows
    single_thread_flags()
    from madatasets.smax import core
    from madatasets.smax_vector import VectorRollout, vector_rollout
    map_name = SMAX_MAPS[spec.name][0]
    rollouts: dict[int, VectorRollout] = {}
    total = sum(part.steps for parts in plan.datasets.values() for part in parts)
    bar = tqdm(total=total, unit="step", desc=description, disable=not progress, leave=False)
    try:
        for prefix, parts in plan.datasets.items():
            for part in parts:
                done_before = bar.n

                def advance(done: int) -> None:
                    bar.update(max(0, min(done_before + done, bar.total) - bar.n))
                if id(part.policy) not in rollouts:
                    # The random policy's program is cached per process; a zoo actor's weights are in its own.
                    rollouts[id(part.policy)] = (vector_rollout(map_name, "random", slots) if part.policy is None
                                                 else VectorRollout(core(map_name), part.policy, slots))
                for block in rollouts[id(part.policy)].stream_blocks(part.seed, part.steps, block_rows,
                                                                     progress=advance, args=part.args):
                    yield prefix, part.behavior, block
    finally:
        bar.close()


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
    if quality != "medium-replay":    # medium-replay's size is the training runs', whatever --env-steps says
        # Written block by block, so memory stays bounded: only the disk must hold the budget.
        check_collection_fits(spec, steps * (spec.n_agents if quality == "mixed" else 1), store.root)
    with store.writing(dataset_id, overwrite) as write, write.version(spec.agents) as version_writer:
        if quality == "medium-replay":
            single_thread_flags()
            block, records = _medium_replay(spec, zoo)
            plan = TierPlan({}, records, {})
            rows = {"": len(block.actions)}
            pieces: Iterator[tuple[str, tuple[int, ...], EpisodeBlock]] = iter([("", (0,) * spec.n_agents, block)])
        else:
            plan = tier_plan(spec, quality, steps, seed, zoo)
            rows = {prefix: sum(part.steps for part in parts) for prefix, parts in plan.datasets.items()}
            pieces = stream_plan(spec, plan, slots, progress, str(dataset_id))
        sinks: list[DiscreteSink] = []
        for prefix, behavior, block in pieces:
            if not sinks or sinks[-1].prefix != prefix:
                # One dataset after the other (mixed: B_1, B_2, ...), each closed before the next.
                if sinks:
                    sinks[-1].finish()
                sinks.append(DiscreteSink(version_writer, prefix, rows[prefix], spec.n_agents))
            sinks[-1].append(block, behavior)
        sinks[-1].finish()
        per_dataset = [{"prefix": sink.prefix, "steps": sink.written, "episodes": sink.episodes} for sink in sinks]
        returns = np.concatenate([r for sink in sinks for r in sink.complete_returns])
        won = np.concatenate([w for sink in sinks for w in sink.complete_won])
        references = spec.references_for(version)   # (scores, details) for the card
        collection = {"steps_requested": steps,
                      "episode_seeding": "fold_in(PRNGKey(seed), episode_index)",
                      "acting": {"random": "uniform legal", "medium-replay": "the learner's sampled actions"}.get(
                          quality, f"epsilon-greedy, epsilon {TIER_EPSILON}"),
                      "vectorized": {"slots": slots, "note": "the arrays do not depend on the slot count"},
                      "action_noise": None} | plan.collection
        if quality == "mixed":
            collection["datasets"] = per_dataset
        card = build_card(
            dataset_id=str(dataset_id), spec_dict=spec.to_dict(), quality=quality, version=version,
            behavior_policies=plan.behavior_policies, seed=seed,
            total_steps=sum(d["steps"] for d in per_dataset), total_episodes=sum(d["episodes"] for d in per_dataset),
            returns=return_statistics(returns), reference_scores=references[0],
            layout="per-agent" if quality == "mixed" else "joint", collection=collection)
        card["win_rate"] = float(np.mean(won)) if len(won) else None
        if quality != "random":
            card["zoo_version"] = version
        card["reference_details"] = references[1]
        version_writer.commit(card)
    return store.path(dataset_id)
