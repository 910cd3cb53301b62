"""`madata collect`: roll out a quality tier's behaviour policy and store the dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from collectors.references import measure_reference, save_reference  # noqa: F401 (re-exported)
from collectors.rollout import BehaviorPolicy, UniformRandomPolicy, assemble, rollout
from collectors.streaming import EpisodeSink
from collectors.tiers import TIER_COLLECTORS as ZOO_TIERS, zoo_policy
from madatasets.cards import build_card, return_statistics
from madatasets.errors import MadataError
from madatasets.resources import check_collection_fits
from madatasets.scenarios import ScenarioSpec, episode_return, get_spec
from madatasets.store import QUALITIES, DatasetId, Store, Writer

DEFAULT_STEPS = 1_000_000

# quality -> factory(spec, seed) of its behaviour policy (every agent acts it).
TIER_POLICIES: dict[str, Callable[[ScenarioSpec, int], BehaviorPolicy]] = {
    "random": lambda spec, seed: UniformRandomPolicy(spec.act_mask, spec.episode_limit),
    "medium": lambda spec, seed: zoo_policy(spec, "medium"),
    "expert": lambda spec, seed: zoo_policy(spec, "expert"),
}
# The zoo tiers (collectors/tiers.py: quality -> prepare(spec, seed, zoo_dir) -> run(steps,
# workers, progress, description) -> TierData) take precedence over TIER_POLICIES. `prepare`
# loads and checks what the tier needs, so a missing zoo policy fails before any lock is
# taken or any step is collected.
TIER_COLLECTORS = ZOO_TIERS


def available_qualities() -> list[str]:
    return [q for q in QUALITIES if q in TIER_POLICIES or q in TIER_COLLECTORS]


def episode_returns(episodes: list[dict[str, Any]]) -> np.ndarray:
    return np.array([episode_return(e["rewards"]) for e in episodes])


def zoo_version_of(zoo: str | Path | None) -> int:
    from collectors.behavior import ZOO_DIR, read_zoo_index
    return int(read_zoo_index(Path(zoo) if zoo is not None else ZOO_DIR)["zoo_version"])


def collect(scenario: str, quality: str, steps: int = DEFAULT_STEPS, seed: int = 0, workers: int = 1,
            store: str | Store | None = None, overwrite: bool = False, version: int | None = None,
            progress: bool = True, zoo: str | Path | None = None) -> Path:
    """Collect and write `<scenario>/<quality>-v<version>`; returns the dataset's path.

    `zoo` is the behaviour-policy zoo directory for the zoo-driven tiers (default:
    the zoo shipped in the collectors package). The dataset version is the zoo's
    version (what the tiers and the expert reference mean); a zoo-driven tier
    refuses another one.
    """
    spec = get_spec(scenario)
    if not spec.simulator:
        # Import-only scenarios (SMAC): their data comes from `madata import og-marl`, never from here.
        from madatasets.smac import no_simulator_message
        raise MadataError(no_simulator_message(scenario))
    if spec.discrete:
        # SMAX: one vectorized process (`workers` does not apply), the discrete schema.
        from collectors.smax_collect import collect_smax
        if quality != "random":
            zoo_version = zoo_version_of(zoo)
            if version is not None and version != zoo_version:
                raise MadataError(f"{scenario} {quality} comes from the SMAX zoo of version {zoo_version}; "
                                  f"--version {version} is not it")
            version = zoo_version
        return collect_smax(spec, quality, steps, seed, store, overwrite, version, progress,
                            zoo=Path(zoo) if zoo is not None else None)
    if zoo is None and version is not None and quality in TIER_COLLECTORS:
        from collectors.zoo_index import zoo_dir_for_version
        zoo = zoo_dir_for_version(version)   # an older -vN is made with the zoo of version N
    zoo_version = zoo_version_of(zoo)
    if version is None:
        version = zoo_version
    elif quality in TIER_COLLECTORS and version != zoo_version:
        raise MadataError(f"{quality} datasets of zoo version {zoo_version} are -v{zoo_version}; "
                          f"got --version {version} (older versions need the zoo they were made with)")
    if quality not in TIER_POLICIES and quality not in TIER_COLLECTORS:
        raise MadataError(f"unknown or unavailable quality {quality!r}; valid: {', '.join(available_qualities())}")
    if steps < 1:
        raise MadataError(f"--env-steps must be a positive number of environment steps, got {steps}")
    if workers < 1:
        raise MadataError(f"--workers must be at least 1, got {workers}")
    # Single-policy tiers stream to the store; the zoo tiers assemble in memory.
    policy = None
    if quality in TIER_COLLECTORS:
        run = TIER_COLLECTORS[quality](spec, seed, Path(zoo) if zoo is not None else None)
    else:
        policy = TIER_POLICIES[quality](spec, seed)
    store = store if isinstance(store, Store) else Store(store, create=True)
    if not store.exists:
        store = Store(store.root, create=True)
    dataset_id = DatasetId(scenario, quality, version)
    # A mixed dataset holds one dataset of `steps` per agent.
    check_collection_fits(spec, steps * (spec.n_agents if quality == "mixed" else 1), store.root,
                          memory=policy is None)
    with store.writing(dataset_id, overwrite) as write:
        if policy is not None:
            return _collect_streaming(spec, quality, version, zoo_version, policy, steps, seed, workers, progress,
                                      write)
        data = run(steps, workers, progress, str(dataset_id))
        arrays: dict[str, np.ndarray] = {}
        complete: list[dict[str, Any]] = []
        per_dataset = []
        for prefix, episodes in data.datasets.items():
            arrays |= {prefix + name: array for name, array in assemble(episodes, spec.n_agents).items()}
            # A budget-cut last episode is incomplete: keep it out of the return statistics, even
            # when no episode is complete (the statistics are then empty, not a cut episode's).
            complete += [e for e in episodes if not e["budget_cut"]]
            per_dataset.append({"prefix": prefix, "steps": int(sum(len(e["actions"]) for e in episodes)),
                                "episodes": len(episodes)})
        collection = {"steps_requested": steps} | data.collection
        if data.layout != "joint":
            collection["datasets"] = per_dataset
        references = spec.references_for(version)   # (scores, details) for the card
        card = build_card(
            dataset_id=str(dataset_id), spec_dict=spec.to_dict(), quality=quality, version=version,
            behavior_policies=data.behavior_policies, seed=seed,
            total_steps=sum(d["steps"] for d in per_dataset), total_episodes=sum(d["episodes"] for d in per_dataset),
            returns=return_statistics(episode_returns(complete)),
            reference_scores=references[0], layout=data.layout, collection=collection)
        card["zoo_version"] = zoo_version
        card["reference_details"] = references[1]
        return write(arrays, card)



def _collect_streaming(spec: ScenarioSpec, quality: str, version: int, zoo_version: int, policy: BehaviorPolicy,
                       steps: int, seed: int, workers: int, progress: bool, write: Writer) -> Path:
    """A tier where every agent acts one BehaviorPolicy, written shard by shard as it is rolled out."""
    dataset_id = write.dataset_id
    with write.version(spec.agents) as version_writer:
        sink = EpisodeSink(version_writer, spec.n_agents, steps)
        rollout(spec.name, policy, steps, seed, workers, progress, description=str(dataset_id), on_episode=sink)
        sink.finish()
        collection = {"steps_requested": steps, "action_noise": None,
                      "episode_seeding": "SeedSequence([seed, episode_index])"}
        references = spec.references_for(version)   # (scores, details) for the card
        card = build_card(
            dataset_id=str(dataset_id), spec_dict=spec.to_dict(), quality=quality, version=version,
            behavior_policies=policy.describe(), seed=seed, total_steps=sink.rows, total_episodes=sink.episodes,
            returns=return_statistics(np.asarray(sink.complete_returns)),
            reference_scores=references[0], layout="joint", collection=collection)
        # The same card fields as the in-memory path (collect above).
        card["zoo_version"] = zoo_version
        card["reference_details"] = references[1]
        version_writer.commit(card)
    return write.store.path(dataset_id)


def measure_random_reference(scenario: str, episodes: int = 100, seed: int = 1_000_003, workers: int = 1,
                             progress: bool = True) -> dict[str, Any]:
    """Mean return of uniform random actions over `episodes` whole episodes."""
    return measure_reference(scenario, "random", episodes, seed, workers, progress)


def measure_expert_reference(scenario: str, episodes: int = 100, seed: int = 1_000_003, workers: int = 1,
                             progress: bool = True, zoo: str | Path | None = None) -> dict[str, Any]:
    """Mean return of the zoo expert, deterministic (no action noise), over `episodes` whole episodes."""
    return measure_reference(scenario, "expert", episodes, seed, workers, progress, zoo)
