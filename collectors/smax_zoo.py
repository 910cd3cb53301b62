"""`madata train-behavior smax-*`: the SMAX zoo, trained by `collectors.smax_mappo`.

The same contract as the continuous zoo (collectors/behavior.py): a seeded, resumable
run; periodic evaluations (greedy, `eval_episodes` episodes, win rate and return);
expert = of the `SELECTION_CANDIDATES` trained snapshots with the best periodic win rate
(then return), the best over `SELECTION_EPISODES` episodes of their own seeds (a noisy
200-episode reading favours lucky snapshots: smax-8m's best periodic 0.930 scored 0.859
over 1,000 episodes), medium =
the first snapshot whose return reaches random + 1/3 of the span to expert's, early =
the one before; each evaluated greedily over 1,000 final episodes and exported to
`collectors/zoo/<scenario>/<role>.npz` with its sha256 in `index.json`.

The run folder (`.madata-runs/<scenario>-smax-mappo-seed<S>`) holds the whole state
(networks, optimizer, environments, keys, snapshots) between updates; `--resume`
continues bit for bit: an update is a pure function of that state.
"""

from __future__ import annotations

import pickle
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from collectors.actors import FINAL_EVAL_SEED, PERIODIC_EVAL_SEED, SELECTION_EVAL_SEED
from collectors.smax_actor import SmaxActor
from collectors.smax_evaluation import greedy_policy_evaluation
from collectors.smax_mappo import SmaxPPO, SmaxPPOConfig
from collectors.smax_medium_replay import (MEDIUM_FRACTION, learner_config, main_run_record, medium_target,
                                          replay_runs, rerun)
from collectors.zoo_index import ROLES, ZOO_DIR, ZOO_VERSION, update_zoo_index, zoo_entry
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec
from madatasets.smax import SMAX_MAPS, core, import_jax, single_thread_flags

FINAL_EPISODES = 1_000
RUN_FORMAT = 1
# Per-map budgets (environment steps), measured in docs/smax.md.
SMAX_BUDGETS: dict[str, int] = {"smax-3m": 3_000_000, "smax-8m": 8_000_000, "smax-2s3z": 3_000_000,
                                "smax-5m_vs_6m": 12_000_000, "smax-3s5z": 3_000_000, "smax-smacv2-5": 2_000_000,
                                "smax-3s_vs_5z": 2_000_000, "smax-6h_vs_8z": 2_000_000,
                                "smax-10m_vs_11m": 2_000_000}
# Per-map learner settings over SmaxPPOConfig's defaults, each from a measured sweep (docs/smax.md).
# smax-8m: the MAPPO paper's hard-map settings (clip 0.05, 10 epochs) with JaxMARL's 128-step rollouts
# and gradient norm 0.25: 0.92 / 0.90 periodic win rate at 3.2M / 4M, where the defaults stayed at 0.76-0.86.
SMAX_SETTINGS: dict[str, dict[str, Any]] = {
    "smax-8m": {"clip_range": 0.05, "n_epochs": 10, "n_steps": 128, "entropy_coef": 0.01, "max_grad_norm": 0.25,
                "learning_rate": 1e-3},
    # smax-5m_vs_6m: training-only shaping (a kill pays, a lost ally costs, each 1 over its team's
    # size) and a learning rate annealed over 20M steps, the run cut at 12M: the win rate sat at
    # 0.15-0.30 up to 7.6M steps, then jumped to 0.88 by 8.1M (docs/smax.md, attempt 9), where
    # seven unshaped, recurrent or shorter attempts stayed at 0.03-0.24.
    "smax-5m_vs_6m": {"kill_bonus": 1.0, "death_penalty": 1.0, "anneal_steps": 20_000_000},
}
EVAL_EVERY = 20_000
# Evaluations after every update up to this step: SMAX learns so fast that the first 20k-step
# snapshot is already past medium's third of the span (smax-3m: 70% of it at 20k).
DENSE_UNTIL = 100_000
DEFAULT_BUDGET = 5_000_000
SELECTION_CANDIDATES = 5
SELECTION_EPISODES = 1_000


def _save(run_dir: Path, payload: dict[str, Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    staging = run_dir / ".run.pkl.tmp"
    with open(staging, "wb") as handle:
        pickle.dump(payload, handle)
    staging.replace(run_dir / "run.pkl")


def train_smax(scenario: str, steps: int, seed: int, config: SmaxPPOConfig, run_dir: Path | None,
               resume: bool = False, eval_every: int = 100_000, eval_episodes: int = 200,
               progress: Callable[[str], None] | None = None, save_every_seconds: float = 120.0,
               stop_at: int | None = None, dense_until: int = DENSE_UNTIL,
               stop_when: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """Train to `steps` environment steps (or `stop_at`, or the first snapshot `stop_when`
    accepts); returns the run's payload (snapshots, wall time, the final state as numpy)."""
    if scenario not in SMAX_MAPS:
        raise MadataError(f"{scenario} is not a SMAX scenario; valid: {', '.join(SMAX_MAPS)}")
    single_thread_flags()
    jax = import_jax()
    smax = core(SMAX_MAPS[scenario][0])
    ppo = SmaxPPO(smax, config)
    meta = {"format": RUN_FORMAT, "scenario": scenario, "seed": seed, "config": config.to_dict(),
            "eval_every": eval_every, "eval_episodes": eval_episodes, "dense_until": dense_until}
    saved = None
    if run_dir is not None and (run_dir / "run.pkl").exists():
        with open(run_dir / "run.pkl", "rb") as handle:
            saved = pickle.load(handle)
        if not resume:
            raise MadataError(f"{run_dir} holds a run already; pass --resume to continue it or remove the folder")
        if saved["meta"] != meta:
            raise MadataError(f"the run in {run_dir} was started with other settings; use another --run-dir")
    if saved is None:
        run, snapshots, wall = ppo.initial_state(seed), [], 0.0
    else:
        run = jax.tree.map(jax.numpy.asarray, saved["state"])
        snapshots, wall = saved["snapshots"], saved["wall_seconds"]
    evaluate = greedy_policy_evaluation(smax, eval_episodes, PERIODIC_EVAL_SEED + seed)
    per_update = config.steps_per_update
    end = steps if stop_at is None else min(steps, stop_at)

    def snapshot(step: int) -> None:
        returns, won = evaluate(run["params"])
        record = {"step": step, "eval_mean": float(np.mean(returns)), "win_rate": float(np.mean(won)),
                  "before_updates": step == 0, "actor": SmaxActor.from_params(jax.device_get(run["params"]))}
        snapshots.append(record)
        if progress is not None:
            progress(f"step {step}: greedy return {record['eval_mean']:.3f}, win rate {record['win_rate']:.3f}")

    def payload() -> dict[str, Any]:
        return {"meta": meta, "state": jax.device_get(run), "snapshots": snapshots, "wall_seconds": wall}
    if not snapshots:
        snapshot(0)
    started, last_save = time.monotonic(), time.monotonic()
    base_wall = wall
    step = int(run["updates"]) * per_update
    while step < end:
        run, _ = ppo.step(run)
        before, step = step, step + per_update
        # A snapshot at every multiple of eval_every and at the budget's end, never at a stop_at
        # cut: a run stopped and resumed keeps the snapshots of one run straight through.
        if step <= dense_until or step // eval_every > before // eval_every or step >= steps:
            snapshot(step)
            if stop_when is not None and stop_when(snapshots[-1]):
                break
        wall = base_wall + time.monotonic() - started
        if run_dir is not None and (time.monotonic() - last_save >= save_every_seconds or step >= end):
            _save(run_dir, payload())
            last_save = time.monotonic()
    return payload()


def by_win_rate(snapshot: dict[str, Any]) -> tuple[float, float]:
    return snapshot["win_rate"], snapshot["eval_mean"]


def choose_roles(snapshots: list[dict[str, Any]], random_reference: float,
                 expert: int | None = None) -> dict[str, int]:
    """Indices of early, medium and expert among the snapshots (in step order); expert is the
    best periodic win rate (then return) unless `expert` names it (`select_expert`)."""
    trained = [k for k, s in enumerate(snapshots) if not s["before_updates"]]
    if len(trained) < 2:
        raise MadataError("need at least two trained snapshots to choose early, medium and expert")
    if expert is None:
        expert = max(trained, key=lambda k: (*by_win_rate(snapshots[k]), -k))
    target = min(random_reference + MEDIUM_FRACTION * (snapshots[expert]["eval_mean"] - random_reference),
                 snapshots[expert]["eval_mean"])
    medium = next(k for k in trained if k <= expert and snapshots[k]["eval_mean"] >= target)
    return {"early": max(medium - 1, 0), "medium": medium, "expert": expert}


def select_expert(scenario: str, snapshots: list[dict[str, Any]], seed: int,
                  candidates: int = SELECTION_CANDIDATES, episodes: int = SELECTION_EPISODES
                  ) -> tuple[int, list[dict[str, Any]]]:
    """The expert's index: of the `candidates` trained snapshots with the best periodic win
    rate (then return), the best over `episodes` greedy episodes from SELECTION_EVAL_SEED + seed,
    neither the periodic nor the final episodes; and the record of that re-evaluation."""
    trained = [k for k, s in enumerate(snapshots) if not s["before_updates"]]
    ranked = sorted(trained, key=lambda k: (*by_win_rate(snapshots[k]), -k), reverse=True)[:candidates]
    evaluate, record = greedy_evaluator(scenario, episodes, SELECTION_EVAL_SEED + seed), []
    for k in ranked:
        returns, won = evaluate(snapshots[k]["actor"])
        record.append({"step": snapshots[k]["step"], "periodic_win_rate": snapshots[k]["win_rate"],
                       "win_rate": float(won.mean()), "return_mean": float(returns.mean())})
    best = max(range(len(ranked)), key=lambda i: (record[i]["win_rate"], record[i]["return_mean"], -i))
    return ranked[best], record


def greedy_evaluator(scenario: str, episodes: int = FINAL_EPISODES,
                     seed: int = FINAL_EVAL_SEED) -> Callable[[SmaxActor], tuple[np.ndarray, np.ndarray]]:
    """`evaluate(actor) -> (returns, won)`: the actor acting greedily over `episodes` episodes from
    `seed`, one compiled program for every actor of the same shape (the roles, the candidates)."""
    single_thread_flags()
    import_jax()
    program = greedy_policy_evaluation(core(SMAX_MAPS[scenario][0]), episodes, seed)

    def evaluate(actor: SmaxActor) -> tuple[np.ndarray, np.ndarray]:
        returns, won = program(actor.params())
        return np.asarray(returns, dtype=np.float64), np.asarray(won, dtype=bool)
    return evaluate


def train_smax_behavior(scenario: str, steps: int | None = None, seed: int = 0, zoo_dir: Path = ZOO_DIR,
                        run_dir: Path | None = None, resume: bool = False, overrides: dict[str, Any] | None = None,
                        progress: Callable[[str], None] | None = None, command: str | None = None,
                        eval_every: int = EVAL_EVERY, eval_episodes: int = 200,
                        final_episodes: int = FINAL_EPISODES,
                        selection_episodes: int = SELECTION_EPISODES) -> dict[str, Any]:
    """Train, choose the roles, evaluate each over 1,000 episodes, write them to the zoo."""
    spec = get_spec(scenario)
    random_reference = spec.reference_scores.get("random")
    if random_reference is None:
        raise MadataError(f"no random reference score for {scenario}; run `madata reference {scenario} "
                          f"--policy random` first (medium is defined relative to it)")
    steps = steps or SMAX_BUDGETS.get(scenario, DEFAULT_BUDGET)
    # The learning rate anneals over the budget (JaxMARL's ANNEAL_LR), unless overridden.
    config = replace(SmaxPPOConfig(anneal_steps=steps), **(SMAX_SETTINGS.get(scenario, {}) | (overrides or {})))
    started = time.time()
    result = train_smax(scenario, steps, seed, config, run_dir, resume, eval_every, eval_episodes, progress)
    snapshots = result["snapshots"]
    expert, selection = select_expert(scenario, snapshots, seed, episodes=selection_episodes)
    chosen = choose_roles(snapshots, random_reference, expert)
    entry: dict[str, Any] = {
        "zoo_version": ZOO_VERSION, "scenario_version": spec.version, "package_versions": spec.package_versions(),
        "machine": platform.machine(), "algorithm": "smax-mappo",
        "config": config.to_dict() | {"steps": steps, "eval_every": eval_every, "eval_episodes": eval_episodes},
        "seed": seed, "training_steps": steps, "train_wall_seconds": round(result["wall_seconds"], 1),
        "command": command or f"madata train-behavior {scenario} --env-steps {steps} --seed {seed}",
        "input": "observations", "random_reference": random_reference,
        "checkpoints": [{"step": s["step"], "eval_mean": s["eval_mean"], "win_rate": s["win_rate"],
                         "before_updates": s["before_updates"]} for s in snapshots],
        "expert_selection": {"episodes": selection_episodes, "seed": SELECTION_EVAL_SEED + seed,
                             "candidates": selection},
        "policies": {},
    }
    evaluate = greedy_evaluator(scenario, final_episodes)
    for role in ROLES:
        snapshot = snapshots[chosen[role]]
        returns, won = evaluate(snapshot["actor"])
        snapshot["actor"].save(Path(zoo_dir) / scenario / f"{role}.npz")
        entry["policies"][role] = {
            "id": f"zoo/{scenario}/{role}", "file": f"{scenario}/{role}.npz", "sha256": snapshot["actor"].checksum,
            "step": snapshot["step"], "periodic_eval_mean": snapshot["eval_mean"],
            "periodic_win_rate": snapshot["win_rate"], "return_mean": float(returns.mean()),
            "return_std": float(returns.std()), "win_rate": float(won.mean()), "episodes": int(returns.size),
            "eval_seed": FINAL_EVAL_SEED, "hidden": list(config.hidden), "acting": "greedy"}
    entry["medium_replay"] = main_run_record(scenario, entry)
    entry["total_wall_seconds"] = round(time.time() - started, 1)
    update_zoo_index(Path(zoo_dir), scenario, entry)
    return entry


def train_replay_run(scenario: str, seed: int, zoo_dir: Path = ZOO_DIR,
                     progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train `seed` of the entry's configuration to its first snapshot at or above the medium
    target and add the run to the entry's medium-replay."""
    entry = zoo_entry(scenario, zoo_dir)
    if "medium_replay" not in entry:   # an entry trained before the tier existed: its own run first
        entry["medium_replay"] = main_run_record(scenario, entry)
    if seed in [run["seed"] for run in replay_runs(entry)]:
        raise MadataError(f"seed {seed} is already part of {scenario}'s medium-replay")
    target = medium_target(entry)
    config, settings = learner_config(entry), entry["config"]
    result = train_smax(scenario, settings["steps"], seed, config, None, eval_every=settings["eval_every"],
                        eval_episodes=settings["eval_episodes"], progress=progress,
                        stop_when=lambda snapshot: not snapshot["before_updates"] and snapshot["eval_mean"] >= target)
    reached = result["snapshots"][-1]
    if reached["eval_mean"] < target:
        raise MadataError(f"{scenario}: seed {seed} never reached the medium target {target:.3f} "
                          f"(best {max(s['eval_mean'] for s in result['snapshots']):.3f})")
    _, sha256, actor_sha256 = rerun(scenario, config, seed, reached["step"])
    extra = {"seed": seed, "stop_step": reached["step"], "sha256": sha256, "medium_sha256": actor_sha256,
             "eval_mean": reached["eval_mean"], "target": target}
    entry["medium_replay"].setdefault("extra_runs", []).append(extra)
    entry["medium_replay"]["steps"] = sum(run["stop_step"] for run in replay_runs(entry))
    update_zoo_index(zoo_dir, scenario, entry)
    return extra

