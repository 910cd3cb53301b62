"""`madata collect`: roll out a quality tier's behaviour policy and store the dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from collectors.references import measure_reference, save_reference  # noqa: F401 (re-exported)
from collectors.rollout import UniformRandomPolicy
from collectors.streaming import EpisodeSink
from collectors.tiers import TIER_COLLECTORS as ZOO_TIERS, Runner, TierData, rollout_feed
from madatasets.cards import build_card, return_statistics
from madatasets.errors import MadataError
from madatasets.resources import check_collection_fits
from madatasets.scenarios import ScenarioSpec, get_spec
from madatasets.store import QUALITIES, DatasetId, Store

DEFAULT_STEPS = 1_000_000


def prepare_random(spec: ScenarioSpec, seed: int, zoo: Path | None) -> Runner:
    """`random`: uniform random actions for every agent; no zoo, so any dataset version."""
    policy = UniformRandomPolicy(spec.act_mask, spec.episode_limit)

    def run(steps: int, workers: int, progress: bool, description: str) -> TierData:
        return TierData({"": rollout_feed(spec, [(policy, steps, seed, description)], workers, progress)},
                        policy.describe(), "joint",
                        {"action_noise": None, "episode_seeding": "SeedSequence([seed, episode_index])"})
    return run


# quality -> prepare(spec, seed, zoo_dir) -> run(steps, workers, progress, description) -> TierData
# (collectors/tiers.py). `prepare` loads and checks what the tier needs, so a missing zoo policy
# fails before any lock is taken or any step is collected; `run` hands each dataset's episodes
# to the store as they are rolled out. The zoo tiers' datasets are -v<zoo version>.
TIER_COLLECTORS: dict[str, Callable[[ScenarioSpec, int, Path | None], Runner]] = {"random": prepare_random} | ZOO_TIERS


def available_qualities() -> list[str]:
    return [q for q in QUALITIES if q in TIER_COLLECTORS]


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
    if zoo is None and version is not None and quality in ZOO_TIERS:
        from collectors.zoo_index import zoo_dir_for_version
        zoo = zoo_dir_for_version(version)   # an older -vN is made with the zoo of version N
    zoo_version = zoo_version_of(zoo)
    if version is None:
        version = zoo_version
    elif quality in ZOO_TIERS and version != zoo_version:
        raise MadataError(f"{quality} datasets of zoo version {zoo_version} are -v{zoo_version}; "
                          f"got --version {version} (older versions need the zoo they were made with)")
    if quality not in TIER_COLLECTORS:
        raise MadataError(f"unknown or unavailable quality {quality!r}; valid: {', '.join(available_qualities())}")
    if steps < 1:
        raise MadataError(f"--env-steps must be a positive number of environment steps, got {steps}")
    if workers < 1:
        raise MadataError(f"--workers must be at least 1, got {workers}")
    run = TIER_COLLECTORS[quality](spec, seed, Path(zoo) if zoo is not None else None)
    store = store if isinstance(store, Store) else Store(store, create=True)
    if not store.exists:
        store = Store(store.root, create=True)
    dataset_id = DatasetId(scenario, quality, version)
    # A mixed dataset holds one dataset of `steps` per agent. Written shard by shard, so only
    # the disk must hold the budget.
    check_collection_fits(spec, steps * (spec.n_agents if quality == "mixed" else 1), store.root)
    with store.writing(dataset_id, overwrite) as write, write.version(spec.agents) as version_writer:
        data = run(steps, workers, progress, str(dataset_id))
        sinks = []
        for prefix, dataset in data.datasets.items():
            # One dataset after the other (mixed: B_1, B_2, ...), each closed before the next.
            sink = EpisodeSink(version_writer, spec.n_agents, dataset.rows, prefix)
            dataset.feed(sink)
            sink.finish()
            sinks.append(sink)
        collection = {"steps_requested": steps} | data.collection
        if data.layout != "joint":
            collection["datasets"] = [{"prefix": sink.prefix, "steps": sink.rows, "episodes": sink.episodes}
                                      for sink in sinks]
        # A budget-cut last episode is incomplete: it stays out of the return statistics, even
        # when no episode is complete (the statistics are then empty, not a cut episode's).
        returns = np.asarray([value for sink in sinks for value in sink.complete_returns])
        references = spec.references_for(version)   # (scores, details) for the card
        card = build_card(
            dataset_id=str(dataset_id), spec_dict=spec.to_dict(), quality=quality, version=version,
            behavior_policies=data.behavior_policies, seed=seed,
            total_steps=sum(sink.rows for sink in sinks), total_episodes=sum(sink.episodes for sink in sinks),
            returns=return_statistics(returns), reference_scores=references[0], layout=data.layout,
            collection=collection)
        card["zoo_version"] = zoo_version
        card["reference_details"] = references[1]
        version_writer.commit(card)
    return store.path(dataset_id)


def measure_random_reference(scenario: str, episodes: int = 100, seed: int = 1_000_003, workers: int = 1,
                             progress: bool = True) -> dict[str, Any]:
    """Mean return of uniform random actions over `episodes` whole episodes."""
    return measure_reference(scenario, "random", episodes, seed, workers, progress)


def measure_expert_reference(scenario: str, episodes: int = 100, seed: int = 1_000_003, workers: int = 1,
                             progress: bool = True, zoo: str | Path | None = None) -> dict[str, Any]:
    """Mean return of the zoo expert, deterministic (no action noise), over `episodes` whole episodes."""
    return measure_reference(scenario, "expert", episodes, seed, workers, progress, zoo)
