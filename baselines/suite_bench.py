"""`madata bench ALGORITHM [--suite NAME]`: run a suite's protocol, BC included, and print its table.

Missing datasets are collected first (the suite says how many steps and which
seed), runs already complete are skipped (baselines/completion.py), and every
run records the suite it belongs to: `on_protocol` is false, with the deviations
named, when the command changed the protocol (budget, schedule, episodes, seeds,
batch size or the datasets) or a dataset is not the suite's pinned data, and every
table marks such rows `off-protocol`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from baselines.bench import RunSpec, bench as run_bench
from baselines.completion import completed_result
from baselines.suites import OWN_BATCH, Suite
from madatasets.errors import MadataError
from madatasets.store import Store, parse_id


def deviations(suite: Suite, dataset_ids: list[str], seeds: list[int], updates: int | None,
               eval_every: int | None, eval_episodes: int | None, overrides: tuple[str, ...]) -> list[str]:
    """What this command changes of the suite's protocol (empty: on protocol)."""
    protocol, found = suite.protocol, []
    if updates is not None and any(updates != suite.updates_for(d) for d in dataset_ids):
        found.append(f"updates {updates} (protocol {protocol.updates})")
    if eval_every is not None and eval_every != protocol.eval_every:
        found.append(f"eval_every {eval_every} (protocol {protocol.eval_every})")
    if eval_episodes is not None and eval_episodes != protocol.eval_episodes:
        found.append(f"eval_episodes {eval_episodes} (protocol {protocol.eval_episodes})")
    if sorted(seeds) != protocol.seed_list():
        found.append(f"seeds {','.join(map(str, seeds))} (protocol 0..{protocol.seeds - 1})")
    if any(o.split("=", 1)[0].strip() == "batch_size" for o in overrides):
        found.append(f"batch_size set (protocol {protocol.batch_size or OWN_BATCH})")
    if sorted(dataset_ids) != sorted(suite.dataset_ids):
        found.append(f"{len(dataset_ids)} of the suite's {len(suite.datasets)} datasets")
    return found


def check_suite_ids(suite: Suite, dataset_ids: list[str]) -> None:
    for dataset_id in dataset_ids:
        suite.dataset(dataset_id)           # a dataset outside the suite is an error, not a silent extra


def suite_specs(suite: Suite, algorithms: list[str], dataset_ids: list[str], seeds: list[int],
                updates: int | None, eval_every: int | None, eval_episodes: int | None, preset: str,
                critic: str, overrides: tuple[str, ...], out_dir: str, store: str | None, progress: bool,
                threads: int, command: str, unpinned: Sequence[str] = ()) -> list[RunSpec]:
    """One RunSpec per algorithm x dataset x seed, the protocol's values unless the command changed
    them; `unpinned`: the datasets whose store copy is not the suite's pinned data (ensure_datasets)."""
    check_suite_ids(suite, dataset_ids)
    found = deviations(suite, dataset_ids, seeds, updates, eval_every, eval_episodes, overrides)
    found += [f"{dataset_id} not the pinned data" for dataset_id in unpinned]
    record = {"name": suite.name, "version": suite.version, "on_protocol": not found, "deviations": found}
    protocol = suite.protocol
    batch = (f"batch_size={protocol.batch_size}",) if protocol.batch_size else ()
    specs = []
    for algorithm in algorithms:
        # BC's critic setting is irrelevant; a baseline always runs with the suite's defaults.
        own = algorithm == algorithms[0]
        for dataset_id in dataset_ids:
            budget = updates if updates is not None else suite.updates_for(dataset_id)
            every = min(eval_every if eval_every is not None else protocol.eval_every, budget)
            for seed in seeds:
                specs.append(RunSpec(algorithm=algorithm, dataset_id=dataset_id, seed=seed, updates=budget,
                                     eval_every=every,
                                     eval_episodes=eval_episodes if eval_episodes is not None else
                                     protocol.eval_episodes,
                                     preset=preset if own else "paper", critic=critic if own else "decentralized",
                                     overrides=overrides if own else tuple(
                                         o for o in overrides if o.split("=", 1)[0].strip() == "batch_size"),
                                     out_dir=out_dir, store=store, progress=progress, threads=threads,
                                     command=command, protocol_overrides=batch, suite=record))
    return specs


def _download(suite: Suite, dataset_id: str, store: Store, echo: Callable[[str], None]) -> bool:
    """Fetch the dataset from the configured remotes (docs/hub.md) if one lists it; False: collect it."""
    from madatasets.hub.config import configured_remotes
    from madatasets.hub.download import download
    from madatasets.hub.lookup import find
    try:
        remotes = configured_remotes()
    except MadataError:
        return False                     # no remote configured: collecting is the only way
    try:
        find(dataset_id, None, remotes)
    except MadataError as error:         # not published (or no remote answers): collect, and say why
        echo(f"[suite {suite.name}] {dataset_id}: {error}")
        return False
    echo(f"[suite {suite.name}] downloading {dataset_id}: madata download {dataset_id}")
    download(dataset_id, store, remotes, progress=False)
    return True


def ensure_datasets(suite: Suite, dataset_ids: list[str], store_path: str | None,
                    echo: Callable[[str], None], strict: bool = True) -> list[str]:
    """Get every dataset the store lacks: downloaded when a configured remote has it, else collected
    with the suite's steps and seed (docs/suites.md); then check the suite's pinned card checksums.

    A copy that differs from the pins is refused (`strict`, what pinning and the leaderboard's
    re-runs need), or else named in the returned list with one line each: a collection on another
    CPU gives other bytes where a zoo actor or a re-run training acts (BLAS and torch kernels differ
    between CPU generations), and `madata bench` then runs on it off-protocol.
    """
    from collectors.collect import collect
    check_suite_ids(suite, dataset_ids)     # before anything is downloaded or collected
    store = Store(store_path, create=True)
    for dataset_id in dataset_ids:
        if store.has(parse_id(dataset_id)) or _download(suite, dataset_id, store, echo):
            continue
        entry, parsed = suite.dataset(dataset_id), parse_id(dataset_id)
        echo(f"[suite {suite.name}] collecting {dataset_id} ({entry.collect_steps:,} steps, seed "
             f"{entry.collect_seed}): madata collect {parsed.scenario} --quality {parsed.quality} "
             f"--env-steps {entry.collect_steps} --seed {entry.collect_seed} --version {parsed.version}")
        collect(parsed.scenario, parsed.quality, steps=entry.collect_steps, seed=entry.collect_seed,
                store=store, version=parsed.version, progress=False)
    unpinned = []
    for dataset_id in dataset_ids:
        pinned = suite.dataset(dataset_id).checksums
        if not pinned or store.card(dataset_id)["checksums"] == pinned:
            continue
        if strict:
            raise MadataError(f"{dataset_id} in {store.root} differs from the data suite {suite.tag()} pins "
                              f"(card checksums); collect it again into another store or pass --store")
        echo(f"[suite {suite.tag()}] {dataset_id} in {store.root} is not the pinned data (card checksums "
             f"differ; a collection on another CPU gives other bytes, docs/suites.md): its runs are "
             f"off-protocol; `madata download {dataset_id}` from a remote that publishes it gets the pinned copy")
        unpinned.append(dataset_id)
    return unpinned


def bench_suite(suite: Suite, specs: list[RunSpec], workers: int,
                echo: Callable[[str], None]) -> list[dict[str, Any]]:
    """Run the specs that are not complete yet; returns every spec's results (old and new)."""
    if suite.setting != "offline":
        raise MadataError(f"suite {suite.name} is an {suite.setting} suite; run it with `madata bench otc "
                          f"--dataset ID` (docs/otc.md); `madata bench ALGORITHM --suite` runs offline suites")
    done = {id(spec): completed_result(spec) for spec in specs}
    todo = [spec for spec in specs if done[id(spec)] is None]
    echo(f"[suite {suite.tag()}] {len(specs)} runs: {len(specs) - len(todo)} complete already, "
         f"{len(todo)} to run")
    fresh = iter(run_bench(todo, workers) if todo else [])
    return [done[id(spec)] or next(fresh) for spec in specs]
