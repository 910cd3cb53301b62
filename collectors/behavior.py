"""Behaviour policies: train one joint policy per scenario with stable-baselines3 and
keep checkpoints of it in the zoo (`madata train-behavior`).

The learner sees the scenario through `JointEnv`, a single-agent gymnasium view:
observation = the global state, action = every agent's real action dimensions
concatenated in agent order, reward = the mean reward over agents (so a training
episode's return is exactly the scenario's `episode_return`). "Agent i acts policy
P" then means: agent i executes its slice of P's joint action.

One run keeps (see `select_checkpoints`):

* ``expert``: the checkpoint with the best periodic evaluation;
* ``medium``: the first checkpoint whose periodic evaluation reaches one third of
  the way from the random reference to expert's evaluation (D4RL's "about 1/3 of
  expert", measured from random so that it also means something for negative
  returns);
* ``early``: the last checkpoint before medium (for the mixed tier);
* the replay buffer from step 0 to the medium checkpoint (``medium-replay``).

Each checkpoint is exported as a small numpy MLP (`MLPActor`, float32 ``.npz``)
with a sha256 over its weights, so that collection needs neither stable-baselines3
nor torch and a policy is evaluated for all agents in one batched call.

Runs are deterministic: SB3 is seeded, torch runs with one thread, and every
training episode resets with a seed derived from (seed, episode index). The
medium-replay tier relies on this: it re-runs training up to the medium step and
checks that the re-run reproduces the zoo's medium checksum.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from collectors.actors import (FINAL_EVAL_SEED, PERIODIC_EVAL_SEED, SELECTION_EVAL_SEED,  # noqa: F401
                               ActorPolicy, Checkpoint, MLPActor, action_layout, evaluate_actor, export_actor,
                               joint_to_padded)
from collectors.joint_env import JointEnv, buffer_checksum  # noqa: F401
from collectors.sb3_training import first_update_step, run_training  # noqa: F401
from collectors.train_config import (ALGORITHM_DEFAULTS, ALGORITHMS, BUDGETS, TrainConfig,  # noqa: F401
                                     default_config, validate_config)
from collectors.zoo_index import (ROLES, ZOO_DIR, ZOO_FORMAT, ZOO_INDEX, ZOO_VERSION, load_zoo_actor,  # noqa: F401
                                  read_zoo_index, update_zoo_index, zoo_entry, zoo_scenarios)
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec

MEDIUM_FRACTION = 1.0 / 3.0

# What callers have always imported from here (the pieces now live in their own files).
__all__ = ["ALGORITHMS", "ALGORITHM_DEFAULTS", "BUDGETS", "FINAL_EVAL_SEED", "PERIODIC_EVAL_SEED", "ROLES",
           "ZOO_DIR", "ZOO_FORMAT", "ZOO_INDEX", "ZOO_VERSION", "ActorPolicy", "Checkpoint", "JointEnv", "MLPActor",
           "TrainConfig", "action_layout", "backfill_warmup_snapshot", "buffer_checksum", "cut_at_step",
           "default_config", "evaluate_actor", "export_actor", "first_update_step", "joint_to_padded",
           "load_zoo_actor", "read_zoo_index", "refine_expert", "run_training",
           "select_checkpoints", "train_behavior", "update_zoo_index", "validate_config", "zoo_entry",
           "zoo_scenarios"]


def select_checkpoints(eval_means: list[float], random_reference: float,
                       before_updates: list[bool] | None = None, expert: int | None = None,
                       confirm: Callable[[int], float] | None = None) -> dict[str, int]:
    """Indices of the kept checkpoints, from their periodic evaluation means (in step order).

    expert: the best trained checkpoint; medium: the first trained checkpoint reaching
    random + (expert - random) / 3 (at most expert's value), not after expert; early: the checkpoint just before
    medium, which may be the untrained end-of-warm-up snapshot (medium itself if none).
    confirm: a checkpoint's mean over fresh episodes; given, medium is the first checkpoint whose
    periodic mean and confirmed mean both reach the target (the first periodic one if none does).
    """
    means = np.asarray(eval_means, dtype=np.float64)
    untrained = np.asarray(before_updates if before_updates is not None else [False] * means.size)
    trained = np.flatnonzero(~untrained)
    if trained.size < 2:
        raise MadataError("need at least two trained checkpoints to choose early, medium and expert")
    if expert is None:
        expert = int(trained[np.argmax(means[trained])])
    # If no checkpoint beats random the target lies above expert; clamp it so that
    # medium is then the first checkpoint as good as expert (the roles mean little then).
    target = min(random_reference + MEDIUM_FRACTION * (means[expert] - random_reference), means[expert])
    reaching = [int(k) for k in trained if k <= expert and means[k] >= target]
    medium = next((k for k in reaching if confirm(k) >= target), reaching[0]) if confirm else reaching[0]
    early = max(medium - 1, 0)
    return {"early": early, "medium": medium, "expert": expert}



def refine_expert(config: TrainConfig, checkpoints: list[Checkpoint], progress: bool = False) -> int | None:
    """Re-evaluate the `selection_candidates` best trained checkpoints over `selection_episodes`
    (episode seeds of their own, neither the periodic nor the final ones); the index of the best,
    or None when the config asks for no re-evaluation (expert = the best periodic evaluation).

    A periodic evaluation of a few episodes favours lucky checkpoints; the final 100-episode
    figure then disappoints. Medium keeps its rule, applied against the chosen expert.
    """
    if config.selection_episodes <= 0:
        return None
    trained = [k for k, c in enumerate(checkpoints) if not c.before_updates]
    ranked = sorted(trained, key=lambda k: checkpoints[k].eval_mean, reverse=True)[: config.selection_candidates]
    scores = {}
    for k in ranked:
        returns = evaluate_actor(config.scenario, checkpoints[k].actor, config.selection_episodes,
                                 SELECTION_EVAL_SEED + config.seed, progress=progress,
                                 description=f"select step {checkpoints[k].step}")
        scores[k] = float(returns.mean())
        checkpoints[k].selection_mean = scores[k]
    return max(scores, key=lambda k: (scores[k], -k))


def medium_check(config: TrainConfig, checkpoints: list[Checkpoint],
                 progress: bool = False) -> Callable[[int], float] | None:
    """A checkpoint's mean over `medium_check_episodes` selection episodes (None when the config
    asks for none), recorded on the checkpoint: a medium candidate must reach the target again there."""
    if config.medium_check_episodes <= 0:
        return None

    def confirmed_mean(k: int) -> float:
        checkpoints[k].medium_check_mean = medium_check_mean(config, checkpoints[k].actor, progress,
                                                             f"medium check step {checkpoints[k].step}")
        return checkpoints[k].medium_check_mean
    return confirmed_mean


def medium_check_mean(config: TrainConfig, actor: MLPActor, progress: bool = False, description: str = "") -> float:
    """`actor`'s mean return over the config's `medium_check_episodes` selection episodes (fresh:
    not the periodic episodes that nominated it)."""
    returns = evaluate_actor(config.scenario, actor, config.medium_check_episodes, SELECTION_EVAL_SEED + config.seed,
                             progress=progress, description=description)
    return float(returns.mean())


RESUMABLE_LEARNERS = ("td3", "mappo")


def _resumable_learner(algorithm: str) -> tuple[Any, Any, str]:
    """The zoo's own learners: (run function, checksum of the transitions up to a step, what it covers)."""
    if algorithm == "td3":
        from collectors.train_td3 import replay_checksum, run_td3
        return run_td3, replay_checksum, "learner replay buffer (states, actions, rewards, next_states, not_done)"
    from collectors.train_mappo import rollout_chain_at, run_mappo
    return run_mappo, rollout_chain_at, "sha256 chain over MAPPO's rollouts (states, sampled actions, training rewards)"


def train_behavior(config: TrainConfig, zoo_dir: Path = ZOO_DIR, progress: bool = True,
                   command: str | None = None, run_dir: Path | None = None, resume: bool = False) -> dict[str, Any]:
    """Train, pick early/medium/expert, evaluate each over `final_eval_episodes`, write them to the zoo."""
    spec = get_spec(config.scenario)
    random_reference = spec.reference_scores.get("random")
    if random_reference is None:
        raise MadataError(f"no random reference score for {config.scenario}; run "
                          f"`madata reference {config.scenario}` first (medium is defined relative to it)")
    started = time.time()
    if config.algorithm in RESUMABLE_LEARNERS:
        run, buffer_checksum_at, checksum_of = _resumable_learner(config.algorithm)
        # Without a run folder the run is not resumable (the CLI always gives one).
        checkpoints, _, trainer = run(config, evaluate=True, progress=progress,
                                      run_dir=Path(run_dir) if run_dir is not None else None, resume=resume)
        train_seconds = trainer.state.wall_seconds
    else:
        checkpoints, env = run_training(config, evaluate=True, record=True, progress=progress)
        train_seconds = time.time() - started
    chosen = select_checkpoints([c.eval_mean for c in checkpoints], random_reference,
                                [c.before_updates for c in checkpoints],
                                expert=refine_expert(config, checkpoints, progress),
                                confirm=medium_check(config, checkpoints, progress))
    medium_step = checkpoints[chosen["medium"]].step
    if config.algorithm in RESUMABLE_LEARNERS:
        starts = trainer.state.episode_starts
        medium_replay = {"steps": medium_step, "episodes": sum(1 for s in starts if s < medium_step),
                         "stop_step": medium_step, "sha256": buffer_checksum_at(trainer, medium_step),
                         "sha256_of": checksum_of}
    else:
        replay = cut_at_step(env.recorded_episodes(), medium_step)
        medium_replay = {"steps": int(sum(len(e["actions"]) for e in replay)), "episodes": len(replay),
                         "stop_step": medium_step, "sha256": buffer_checksum(replay, spec.n_agents)}
    entry: dict[str, Any] = {
        "zoo_version": ZOO_VERSION, "scenario_version": spec.version, "package_versions": spec.package_versions(),
        "torch_version": _version("torch"),
        "machine": platform.machine(), "algorithm": config.algorithm, "config": config.to_dict(),
        "seed": config.seed, "training_steps": config.steps, "train_wall_seconds": round(train_seconds, 1),
        "command": command or f"madata train-behavior {config.scenario} --env-steps {config.steps} --seed {config.seed}",
        "input": "state", "joint_action_size": int(sum(spec.act_sizes)),
        "random_reference": random_reference,
        "checkpoints": [{"step": c.step, "eval_mean": c.eval_mean, "eval_std": c.eval_std,
                         "before_updates": c.before_updates}
                        | ({"selection_mean": c.selection_mean} if c.selection_mean is not None else {})
                        | ({"medium_check_mean": c.medium_check_mean} if c.medium_check_mean is not None else {})
                        for c in checkpoints],
        "medium_replay": medium_replay,
        "policies": {},
    }
    if config.algorithm not in RESUMABLE_LEARNERS:
        entry["stable_baselines3_version"] = _version("stable-baselines3")
    scenario_dir = zoo_dir / config.scenario
    for role in ROLES:
        checkpoint = checkpoints[chosen[role]]
        returns = evaluate_actor(config.scenario, checkpoint.actor, config.final_eval_episodes, FINAL_EVAL_SEED,
                                 progress=progress, description=f"{config.scenario} {role} evaluation")
        path = scenario_dir / f"{role}.npz"
        checkpoint.actor.save(path)
        entry["policies"][role] = {
            "id": f"zoo/{config.scenario}/{role}", "file": f"{config.scenario}/{role}.npz",
            "sha256": checkpoint.actor.checksum, "step": checkpoint.step,
            "periodic_eval_mean": checkpoint.eval_mean, "return_mean": float(returns.mean()),
            "return_std": float(returns.std()), "episodes": int(returns.size), "eval_seed": FINAL_EVAL_SEED,
            "hidden": list(config.hidden)}
    entry["total_wall_seconds"] = round(time.time() - started, 1)
    update_zoo_index(zoo_dir, config.scenario, entry)
    return entry


def cut_at_step(episodes: list[dict[str, Any]], step: int) -> list[dict[str, Any]]:
    """The first `step` transitions; the episode running at `step` is cut and marked truncated."""
    kept, total = [], 0
    for episode in episodes:
        length = len(episode["actions"])
        if total + length <= step:
            kept.append(episode)
            total += length
            continue
        remaining = step - total
        if remaining > 0:
            kept.append({name: value[: remaining + 1] if name in ("observations", "states") else value[:remaining]
                         for name, value in episode.items() if isinstance(value, np.ndarray)}
                        | {"terminated": False, "truncated": True, "budget_cut": True})
        break
    return kept


def _version(package: str) -> str:
    import importlib.metadata
    return importlib.metadata.version(package)


def backfill_warmup_snapshot(scenario: str, zoo_dir: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """Add the end-of-warm-up snapshot to a zoo entry trained before such snapshots were taken.

    The actor at step `learning_starts` has had no update, so re-running the seeded
    training to that step reproduces it exactly; it is evaluated like any checkpoint,
    the roles are re-selected with the same rule, and a changed `early` is re-exported.
    """
    zoo_dir = Path(zoo_dir) if zoo_dir is not None else ZOO_DIR
    entry = zoo_entry(scenario, zoo_dir)
    if any(c.get("before_updates") for c in entry["checkpoints"]):
        return entry
    config = TrainConfig.from_dict(entry["config"])
    snapshots, _ = run_training(config, evaluate=False, stop_at=config.learning_starts, progress=progress)
    snapshot = snapshots[-1]
    if not snapshot.before_updates:
        raise MadataError(f"{scenario}: the end of warm-up coincides with a periodic checkpoint; nothing to add")
    returns = evaluate_actor(scenario, snapshot.actor, config.eval_episodes, PERIODIC_EVAL_SEED + config.seed)
    checkpoints = [{"step": snapshot.step, "eval_mean": float(returns.mean()), "eval_std": float(returns.std()),
                    "before_updates": True}] + [c | {"before_updates": False} for c in entry["checkpoints"]]
    chosen = select_checkpoints([c["eval_mean"] for c in checkpoints], entry["random_reference"],
                                [c["before_updates"] for c in checkpoints])
    entry["checkpoints"] = checkpoints
    for role in ("medium", "expert"):
        if checkpoints[chosen[role]]["step"] != entry["policies"][role]["step"]:
            raise MadataError(f"{scenario}: re-selection moved {role}; retrain instead of backfilling")
    early_step = checkpoints[chosen["early"]]["step"]
    if early_step != entry["policies"]["early"]["step"]:
        if early_step != snapshot.step:
            raise MadataError(f"{scenario}: the new early checkpoint at step {early_step} was not kept; retrain")
        returns = evaluate_actor(scenario, snapshot.actor, config.final_eval_episodes, FINAL_EVAL_SEED)
        snapshot.actor.save(zoo_dir / scenario / "early.npz")
        entry["policies"]["early"] |= {
            "sha256": snapshot.actor.checksum, "step": snapshot.step, "periodic_eval_mean": checkpoints[0]["eval_mean"],
            "return_mean": float(returns.mean()), "return_std": float(returns.std()), "episodes": int(returns.size)}
    entry["warmup_snapshot_backfilled"] = (f"python -c \"from collectors.behavior import backfill_warmup_snapshot; "
                                           f"backfill_warmup_snapshot('{scenario}')\"")
    update_zoo_index(zoo_dir, scenario, entry)
    return entry
