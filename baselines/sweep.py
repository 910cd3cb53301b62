"""`madata sweep`: run a sweep's runs on a process pool or a Ray cluster, resumably (docs/sweeps.md).

The results folder is the sweep's state: a run whose results are complete
(baselines/completion.py) is skipped, anything else (never run, failed, killed
mid-write) runs again. A run whose worker dies (killed, out of memory, node lost)
is retried up to `retries` times; a run that raises is failed at once (the same
inputs would raise again) and named at the end. Each run writes through the one
run writer, so a retried run still leaves exactly one results pair.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from baselines.bench import RunSpec, record_requests, train_run
from baselines.completion import completed_result
from madatasets.errors import MadataError

EXECUTORS = ("local", "ray")


class WorkerLost(Exception):
    """The process running a run died (not the run's own error): the run is retried."""


def _sweep_task(spec: RunSpec) -> dict[str, Any]:
    """What one worker does for one run (a module-level function: pickled to processes and Ray)."""
    result = train_run(dataclasses.replace(spec, progress=False))
    return {"path": result["path"], "normalized": result["final"]["normalized"]}


class LocalExecutor:
    """A spawn process pool; a worker that dies breaks the pool, which is rebuilt for the retries."""

    def __init__(self, workers: int) -> None:
        import concurrent.futures
        import multiprocessing
        self._futures, self._context, self.workers = concurrent.futures, multiprocessing.get_context("spawn"), workers
        self._pool = self._new_pool()

    def _new_pool(self) -> Any:
        return self._futures.ProcessPoolExecutor(self.workers, mp_context=self._context)

    @property
    def slots(self) -> int:
        return self.workers

    def submit(self, spec: RunSpec) -> Any:
        try:
            return self._pool.submit(_sweep_task, spec)
        except self._futures.process.BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(_sweep_task, spec)

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, Any]]:
        done, _ = self._futures.wait(handles, timeout=timeout, return_when=self._futures.FIRST_COMPLETED)
        finished = []
        for handle in done:
            try:
                finished.append((handle, handle.result()))
            except self._futures.process.BrokenProcessPool:
                finished.append((handle, WorkerLost("a pool worker died")))
            except Exception as error:   # noqa: BLE001 - the run's own error, reported per run
                finished.append((handle, error))
        if any(isinstance(outcome, WorkerLost) for _, outcome in finished):
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
        return finished

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Each run one Ray task with its CPU/GPU request; Ray's own retries are off so the sweep counts them."""

    def __init__(self, address: str | None, cpus: float, gpus: float) -> None:
        try:
            import ray
        except ImportError:
            raise MadataError("--executor ray needs the ray package: pip install 'madata[sweep]'") from None
        self.ray = ray
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except ConnectionError as error:
                raise MadataError(f"no Ray cluster at {address!r} ({error}); start one with `ray start --head` "
                                  "or leave out --address for a local one") from None
        self._task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_sweep_task)
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1) // max(cpus, 1e-9)))

    def submit(self, spec: RunSpec) -> Any:
        return self._task.remote(spec)

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, Any]]:
        ready, _ = self.ray.wait(handles, num_returns=1, timeout=timeout)
        finished = []
        for handle in ready:
            try:
                finished.append((handle, self.ray.get(handle)))
            except self.ray.exceptions.RayTaskError as error:   # the run raised
                finished.append((handle, error.cause if isinstance(error.cause, BaseException) else error))
            except self.ray.exceptions.RayError as error:       # worker or node died, object lost
                finished.append((handle, WorkerLost(f"{type(error).__name__}")))
        return finished

    def close(self) -> None:
        pass                     # the cluster (or the caller's ray.init) outlives the sweep


@dataclass
class SweepOutcome:
    total: int
    skipped: int = 0
    completed: int = 0
    retried: int = 0
    failed: dict[str, str] = field(default_factory=dict)    # run name -> its error


def run_name(spec: RunSpec) -> str:
    return f"{spec.label()} {spec.dataset_id} seed {spec.seed}"


def run_sweep(runs: list[RunSpec], executor: Any, retries: int = 2, progress: bool = True,
              echo: Callable[[str], None] = print) -> SweepOutcome:
    """Run every incomplete run, at most `executor.slots` in flight; returns what happened."""
    from tqdm.auto import tqdm
    record_requests(runs)
    outcome = SweepOutcome(total=len(runs))
    queue = []
    for spec in runs:
        if completed_result(spec) is not None:
            outcome.skipped += 1
        else:
            queue.append(spec)
    attempts: dict[str, int] = {}
    in_flight: dict[Any, RunSpec] = {}
    bar = tqdm(total=len(runs), initial=outcome.skipped, desc="sweep", disable=not progress, dynamic_ncols=True,
               unit="run")

    def status() -> None:
        bar.set_postfix_str(f"done {outcome.skipped + outcome.completed}, running {len(in_flight)}, "
                            f"failed {len(outcome.failed)}, retried {outcome.retried}")
    status()
    try:
        while queue or in_flight:
            while queue and len(in_flight) < executor.slots:
                spec = queue.pop(0)
                in_flight[executor.submit(spec)] = spec
            status()
            for handle, result in executor.wait(list(in_flight), timeout=1.0):
                spec = in_flight.pop(handle)
                name = run_name(spec)
                if isinstance(result, WorkerLost):
                    if completed_result(spec) is not None:   # it died after its results were written
                        outcome.completed += 1
                        bar.update(1)
                        continue
                    attempts[name] = attempts.get(name, 0) + 1
                    if attempts[name] <= retries:
                        outcome.retried += 1
                        queue.insert(0, spec)
                        echo(f"[sweep] worker lost on {name} ({result}); retry {attempts[name]} of {retries}")
                        continue
                    outcome.failed[name] = f"worker lost {attempts[name]} times ({result})"
                elif isinstance(result, BaseException):
                    outcome.failed[name] = f"{type(result).__name__}: {result}".splitlines()[0]
                else:
                    outcome.completed += 1
                bar.update(1)
                status()
    finally:
        bar.close()
        executor.close()
    return outcome


def make_executor(kind: str, workers: int, address: str | None, cpus: float, gpus: float) -> Any:
    if kind not in EXECUTORS:
        raise MadataError(f"unknown executor {kind!r}; valid: {', '.join(EXECUTORS)}")
    if kind == "local":
        if address is not None:
            raise MadataError("--address names a Ray cluster; use it with --executor ray")
        return LocalExecutor(workers)
    return RayExecutor(address, cpus, gpus)


def summary_line(outcome: SweepOutcome, seconds: float) -> str:
    return (f"sweep: {outcome.total} runs, {outcome.skipped} complete already, {outcome.completed} run now, "
            f"{outcome.retried} retries, {len(outcome.failed)} failed, {seconds:.0f}s")


def now() -> float:
    return time.perf_counter()
