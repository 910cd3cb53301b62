"""What every zoo learner's run does around its loop (train_td3, train_mappo): a progress
bar, the periodic evaluation of snapshots, and the atomic checkpoint saver."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from tqdm.auto import tqdm

from collectors.actors import PERIODIC_EVAL_SEED, MLPActor, evaluate_actor
from collectors.trainer_state import save_checkpoint
from collectors.train_config import TrainConfig


def progress_bar(config: TrainConfig, start: int, stop_at: int | None, progress: bool) -> tqdm:
    total = config.steps if stop_at is None else min(stop_at, config.steps)
    return tqdm(total=total, initial=start, unit="step", desc=f"train {config.scenario}", disable=not progress,
                mininterval=2.0)


class TargetReached(Exception):
    """Ends a run early, between two steps, once a periodic evaluation met `stop_when`."""


def snapshot_evaluator(config: TrainConfig, bar: tqdm, evaluate: bool, progress: bool,
                       actor_of: Callable[[Any], MLPActor],
                       stop_when: Callable[[int, float, MLPActor], bool] | None = None
                       ) -> Callable[[int, Any], dict[str, Any]]:
    """`on_snapshot(step, learner)`: the snapshot's deterministic return over the periodic episodes.
    With `stop_when(step, mean, actor)`, a snapshot it accepts marks the run as done (`stop_after`);
    it gets the actor so that it can evaluate it further (a medium check on fresh episodes)."""
    reached: list[int] = []

    def on_snapshot(step: int, learner: Any) -> dict[str, Any]:
        if not evaluate:
            return {}
        actor = actor_of(learner)
        returns = evaluate_actor(config.scenario, actor, config.eval_episodes, PERIODIC_EVAL_SEED + config.seed)
        if progress:
            bar.write(f"step {step}: eval return {returns.mean():.2f} +- {returns.std():.2f}")
        if stop_when is not None and stop_when(step, float(returns.mean()), actor):
            reached.append(step)
        return {"eval_mean": float(returns.mean()), "eval_std": float(returns.std())}
    on_snapshot.reached = reached  # type: ignore[attr-defined]
    return on_snapshot


def stop_after(on_snapshot: Callable[[int, Any], dict[str, Any]], callback: Callable[..., None]) -> Callable[..., None]:
    """`callback`, then TargetReached once `on_snapshot` has accepted an evaluation: the loop's
    per-step (TD3) or per-rollout (MAPPO) hook, called after that step's snapshot was stored."""
    def hook(*args: Any) -> None:
        callback(*args)
        if getattr(on_snapshot, "reached", None):
            raise TargetReached(on_snapshot.reached[0])
    return hook


def checkpoint_saver(run_dir: Path | None, meta: dict[str, Any]) -> Callable[[Any], None] | None:
    if run_dir is None:
        return None
    return lambda learner: save_checkpoint(learner, run_dir, meta)
