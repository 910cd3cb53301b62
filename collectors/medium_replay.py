"""The `medium-replay` tier's source: the zoo's training runs, re-run up to their medium
checkpoints with every executed transition recorded (D4RL's medium-replay: the replay
buffer of a learner trained until it reaches the medium level).

One run's buffer is small where the learner gets to medium quickly (HalfCheetah: 40k
steps), so a zoo entry may list further runs of the same configuration with other
seeds (`medium_replay.extra_runs`), each stopped at its own first checkpoint that
reaches the medium target (the rule that chose the zoo's medium, against the same
expert, with its check on fresh episodes where the entry's config asks for one). The
tier is their buffers one after another, seed 0's first; every run's medium actor and
buffer checksums are recorded so a re-run can be checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collectors.actors import MLPActor
from collectors.behavior import MEDIUM_FRACTION, RESUMABLE_LEARNERS, _resumable_learner, cut_at_step, medium_check_mean
from collectors.joint_env import buffer_checksum
from collectors.sb3_training import run_training
from collectors.train_config import TrainConfig
from collectors.zoo_index import ZOO_DIR, update_zoo_index, zoo_entry
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec


def medium_target(entry: dict[str, Any]) -> float:
    """The return a checkpoint must reach to be medium: random + 1/3 of the span to the
    chosen expert's periodic evaluation (`select_checkpoints`)."""
    random_reference = entry["random_reference"]
    expert = entry["policies"]["expert"]["periodic_eval_mean"]
    return min(random_reference + MEDIUM_FRACTION * (expert - random_reference), expert)


def replay_runs(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Every run whose buffer is part of the tier: the zoo's own, then the extra seeds."""
    main = {"seed": entry["seed"], "stop_step": entry["medium_replay"]["stop_step"],
            "sha256": entry["medium_replay"]["sha256"], "medium_sha256": entry["policies"]["medium"]["sha256"]}
    return [main, *entry["medium_replay"].get("extra_runs", [])]


def _rerun(config: TrainConfig, stop: int, progress: bool) -> tuple[list[dict[str, Any]], str, str]:
    """(episodes, buffer sha256, medium actor sha256) of `config`'s run re-done up to `stop`."""
    if config.algorithm in RESUMABLE_LEARNERS:
        run, buffer_checksum_at, _ = _resumable_learner(config.algorithm)
        checkpoints, recorded, trainer = run(config, evaluate=False, stop_at=stop, record=True, progress=progress)
        buffer = buffer_checksum_at(trainer, stop)
        # run_td3 returns its recording JointEnv, run_mappo the episodes its copies recorded.
        episodes = cut_at_step(recorded.recorded_episodes() if config.algorithm == "td3" else recorded, stop)
    else:
        checkpoints, env = run_training(config, evaluate=False, stop_at=stop, record=True, progress=progress)
        episodes = cut_at_step(env.recorded_episodes(), stop)
        buffer = buffer_checksum(episodes, get_spec(config.scenario).n_agents)
    return episodes, buffer, next(c.actor for c in checkpoints if c.step == stop).checksum


def regenerate_medium_replay(scenario: str, zoo_dir: Path | None = None,
                             progress: bool = True) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Re-run the zoo's seeded training run(s) up to their medium checkpoints, recording every
    transition; returns the episodes (run after run) and a report of what was reproduced.

    Floating-point results can differ across CPUs and torch builds; the report then says
    so and the data is still the replay buffers of runs with the same seeds and configuration.
    """
    entry = zoo_entry(scenario, zoo_dir)
    base = TrainConfig.from_dict(entry["config"])
    episodes: list[dict[str, Any]] = []
    reports = []
    for run in replay_runs(entry):
        config = TrainConfig.from_dict(base.to_dict() | {"seed": run["seed"]})
        recorded, buffer, medium = _rerun(config, run["stop_step"], progress)
        episodes += recorded
        reports.append({"seed": run["seed"], "stop_step": run["stop_step"],
                        "zoo_medium_sha256": run["medium_sha256"], "rerun_medium_sha256": medium,
                        "zoo_buffer_sha256": run["sha256"], "rerun_buffer_sha256": buffer,
                        "reproduced": run["medium_sha256"] == medium and run["sha256"] == buffer})
    main = reports[0]
    report = {key: main[key] for key in ("stop_step", "zoo_medium_sha256", "rerun_medium_sha256",
                                         "zoo_buffer_sha256", "rerun_buffer_sha256")}
    report |= {"training_command": entry["command"], "training_config": entry["config"],
               "reproduced": all(r["reproduced"] for r in reports)}
    if len(reports) > 1:
        report["runs"] = reports
    return episodes, report


def train_replay_run(scenario: str, seed: int, zoo_dir: Path | None = None, progress: bool = True,
                     max_steps: int | None = None) -> dict[str, Any]:
    """Train the zoo entry's configuration with another `seed` until its first periodic
    checkpoint reaches the medium target, and add that run to the entry's medium-replay.

    The zoo's policies do not change. `max_steps` (default: the entry's whole budget)
    bounds a run that never gets there; that is an error and nothing is added.
    """
    zoo_dir = Path(zoo_dir) if zoo_dir is not None else ZOO_DIR
    entry = zoo_entry(scenario, zoo_dir)
    runs = replay_runs(entry)
    if any(run["seed"] == seed for run in runs):
        raise MadataError(f"{scenario}'s medium-replay already has the run of seed {seed}; "
                          f"seeds in it: {', '.join(str(run['seed']) for run in runs)}")
    base = TrainConfig.from_dict(entry["config"])
    if base.algorithm not in RESUMABLE_LEARNERS:
        raise MadataError(f"extra medium-replay runs need the zoo's own learners ({', '.join(RESUMABLE_LEARNERS)}), "
                          f"not {base.algorithm}")
    config = TrainConfig.from_dict(base.to_dict() | {"seed": seed})
    target = medium_target(entry)
    run, buffer_checksum_at, _ = _resumable_learner(config.algorithm)
    reached: dict[int, float | None] = {}      # the accepted snapshot's step -> its medium-check mean

    def reaches_medium(step: int, mean: float, actor: MLPActor) -> bool:
        # Only a trained snapshot can be medium: TD3's end-of-warm-up actor (step learning_starts)
        # has had no update, and on Ant it stands still above the target (the zoo's rule skips it too).
        if step <= config.learning_starts or mean < target:
            return False
        checked = None
        if config.medium_check_episodes > 0:     # the zoo's medium rule confirms on fresh episodes too
            checked = medium_check_mean(config, actor)
            if checked < target:
                return False
        reached[step] = checked
        return True
    checkpoints, _, trainer = run(config, evaluate=True, progress=progress, stop_at=max_steps,
                                  stop_when=reaches_medium)
    medium = next((c for c in checkpoints if c.step in reached), None)
    if medium is None:
        raise MadataError(f"{scenario} seed {seed} did not reach the medium target {target:.2f} in "
                          f"{trainer.state.step} steps; nothing was added")
    starts = trainer.state.episode_starts
    extra = {"seed": seed, "stop_step": medium.step, "sha256": buffer_checksum_at(trainer, medium.step),
             "medium_sha256": medium.actor.checksum, "eval_mean": medium.eval_mean,
             "episodes": sum(1 for s in starts if s < medium.step), "target": target,
             "train_wall_seconds": round(trainer.state.wall_seconds, 1),
             "command": f"madata train-behavior {scenario} --seed {seed} --for-medium-replay"}
    if reached[medium.step] is not None:
        extra["medium_check_mean"] = reached[medium.step]
    entry = zoo_entry(scenario, zoo_dir)       # re-read: another run may have been added meanwhile
    entry["medium_replay"].setdefault("extra_runs", []).append(extra)
    entry["medium_replay"]["total_steps"] = sum(run["stop_step"] for run in replay_runs(entry))
    update_zoo_index(zoo_dir, scenario, entry)
    return extra
