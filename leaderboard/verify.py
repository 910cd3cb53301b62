"""`madata leaderboard verify`: re-run seeds of a submission from its manifest and compare with its claim.

The re-run uses each results file's own algorithm, preset, critic, overrides and
protocol (suite batch size, budget, evaluation schedule), on the suite's data
(collected if the store lacks it; its checksums must be the pinned ones). A seed
passes when its re-run final normalized score is within `tolerance` points of
the claimed one. On the same machine and library versions a run repeats bit for
bit (difference 0); across machines torch's kernels differ, hence the tolerance.
"""

from __future__ import annotations

import tempfile
from typing import Any, Callable

from baselines.bench import RunSpec, train_run
from baselines.suite_bench import ensure_datasets
from leaderboard.submission import Submission
from madatasets.errors import MadataError


def rerun_spec(run: dict[str, Any], submission: Submission, out_dir: str, store: str | None) -> RunSpec:
    protocol = submission.suite.protocol
    return RunSpec(algorithm=run["algorithm"], dataset_id=run["dataset"]["id"], seed=run["seed"],
                   updates=run["updates"], eval_every=run["eval_every"], eval_episodes=run["eval_episodes"],
                   preset=run["preset"], critic=run["critic"], overrides=tuple(run["overrides"]), out_dir=out_dir,
                   store=store, progress=False,
                   protocol_overrides=(f"batch_size={protocol.batch_size}",) if protocol.batch_size else (),
                   suite=run.get("suite"))


def verify(submission: Submission, seeds: int, tolerance: float, store: str | None,
           echo: Callable[[str], None]) -> list[str]:
    """Re-run the first `seeds` seeds on every dataset; returns the failures as lines (empty: verified)."""
    chosen = sorted(submission.manifest["seeds"])[:seeds]
    ensure_datasets(submission.suite, submission.suite.dataset_ids, store, echo)
    failures = []
    with tempfile.TemporaryDirectory(prefix="madata-verify-") as out_dir:
        for run in sorted(submission.results, key=lambda r: (r["dataset"]["id"], r["seed"])):
            if run["seed"] not in chosen:
                continue
            rerun = train_run(rerun_spec(run, submission, out_dir, store))
            if rerun["config"] != run["config"]:
                raise MadataError(f"{run['path']}: this madata builds a different config for the run than the "
                                  f"submission recorded; verify it with the madata version it names")
            claimed, got = run["final"]["normalized"], rerun["final"]["normalized"]
            difference = abs(got - claimed)
            verdict = "ok" if difference <= tolerance else "FAILED"
            echo(f"{run['dataset']['id']} seed {run['seed']}: claimed {claimed:.3f}, re-run {got:.3f}, "
                 f"difference {difference:.3f} (tolerance {tolerance}) {verdict}")
            if difference > tolerance:
                failures.append(f"{run['dataset']['id']} seed {run['seed']}: re-run normalized {got:.3f} differs "
                                f"from the claimed {claimed:.3f} by {difference:.3f} > {tolerance}")
    return failures
