"""Evaluation and the two diagnostics of MABCQ's paper for decentralized runs.

`DecentralizedEvaluator` is the core `Evaluator` (same episodes, seeds and score)
for agents that observe the global state: every step it passes the states as
well as the observations to the policy, and it records the trajectories so that
the diagnostics below are computed on the evaluation rollouts themselves.

* Value difference (MABCQ Fig. 3): max_i V_i(s) - min_i V_i(s), with
  V_i(s) = Q_i(s, pi_i(s)), averaged over a fixed sample of states drawn
  uniformly from the union of all agents' datasets (the same sample at every
  evaluation of a run).
* Extrapolation error (MABCQ Table 5): |mean_i Q_i(s_t, a_i,t) - R_t| averaged
  over the steps of the evaluation rollouts, where R_t = sum_k gamma^k r_{t+k} is
  the Monte Carlo discounted return from step t (r = mean reward over agents).
  A rollout truncated at the time limit does not contain the tail of R_t, so
  only steps whose missing tail weighs at most `tail_tolerance` (gamma^(T-t)) are
  used; every step of an episode that terminated is used.

Diagnostics read other agents' data and networks; they are measurements and never
feed back into training.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from baselines.core.evaluation import Evaluator
from madatasets.dataset import Dataset
from madatasets.errors import MadataError

DIAGNOSTICS_STREAM = 0xD1A6
# Policy called with observations (N, E, O), states (E, S) and the acting generator.
StatePolicy = Callable[[np.ndarray, np.ndarray, torch.Generator], np.ndarray]


def fixed_state_sample(dataset: Dataset, observation: str, size: int, seed: int) -> np.ndarray:
    """Inputs (N, size, D) of every agent at `size` states drawn uniformly from the union of all B_i."""
    n = dataset.n_agents
    prefixes = [""] * n if dataset.layout == "joint" else [f"agent_{i}/" for i in range(n)]
    lengths = np.array([dataset.arrays[p + "actions"].shape[0] for p in prefixes])
    rng = np.random.default_rng([DIAGNOSTICS_STREAM, seed])
    picks = np.sort(rng.integers(0, lengths.sum(), size))
    owner = np.searchsorted(np.cumsum(lengths), picks, side="right")
    rows = picks - (np.cumsum(lengths) - lengths)[owner]
    key = "states" if observation == "state" else "observations"
    chosen = np.stack([dataset.arrays[prefixes[j] + key][t] for j, t in zip(owner, rows)]).astype(np.float32)
    if observation == "state":
        return np.broadcast_to(chosen, (n, *chosen.shape)).copy()
    return chosen.transpose(1, 0, 2).copy()           # (size, N, O) -> (N, size, O)


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """R_t = sum_k gamma^k r_{t+k} within one episode."""
    returns = np.zeros(len(rewards), dtype=np.float64)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


class DecentralizedEvaluator(Evaluator):
    """Evaluation episodes for state-observing decentralized agents, plus MABCQ's diagnostics."""

    def __init__(self, scenario: str, gamma: float, observation: str = "state", episodes: int = 32,
                 seed: int = 0, parallel: int = 32, value_inputs: np.ndarray | None = None,
                 tail_tolerance: float = 0.01):
        super().__init__(scenario, episodes, seed, parallel)
        self.gamma, self.observation, self.tail_tolerance = gamma, observation, tail_tolerance
        self.value_inputs = None if value_inputs is None else torch.as_tensor(value_inputs)
        self.acting_seed = int(np.random.SeedSequence([DIAGNOSTICS_STREAM, seed, 1]).generate_state(1)[0])
        self.trajectories: list[dict[str, Any]] = []

    @classmethod
    def for_dataset(cls, dataset: Dataset, config: Any, episodes: int = 32, seed: int = 0,
                    value_states: int = 1000) -> "DecentralizedEvaluator":
        """The evaluator of a training run: its value-difference states come from the run's dataset."""
        inputs = fixed_state_sample(dataset, config.observation, value_states, seed)
        return cls(dataset.spec.name, config.gamma, config.observation, episodes, seed, value_inputs=inputs)

    def acting_generator(self) -> torch.Generator:
        """The same stream at every evaluation, so a policy's score does not depend on when it was evaluated."""
        return torch.Generator().manual_seed(self.acting_seed)

    def __call__(self, policy: StatePolicy) -> np.ndarray:
        """Returns of every episode (episodes,); keeps the trajectories for `diagnostics`."""
        generator = self.acting_generator()
        returns = np.zeros(self.episodes, dtype=np.float64)
        self.trajectories = []
        width = len(self.envs)
        for start in range(0, self.episodes, width):
            seeds = self.seeds[start:start + width]
            envs = self.envs[: len(seeds)]
            resets = [env.reset_arrays(seed) for env, seed in zip(envs, seeds)]
            observations = np.stack([obs for obs, _ in resets])                      # (E, N, O)
            states = np.stack([state for _, state in resets])                        # (E, S)
            records = [{"inputs": [], "actions": [], "rewards": [], "terminated": False} for _ in envs]
            active = np.ones(len(envs), dtype=bool)
            while active.any():
                live = np.flatnonzero(active)
                actions = policy(observations[live].transpose(1, 0, 2), states[live], generator)   # (N, E, A)
                for column, index in enumerate(live):
                    record = records[index]
                    record["inputs"].append(states[index] if self.observation == "state" else observations[index])
                    record["actions"].append(actions[:, column])
                    obs, state, rewards, terminated, truncated = envs[index].step_arrays(actions[:, column])
                    observations[index], states[index] = obs, state
                    reward = float(np.mean(rewards, dtype=np.float64))
                    record["rewards"].append(reward)
                    returns[start + index] += reward
                    if terminated or truncated:
                        record["terminated"] = bool(terminated)
                        active[index] = False
            self.trajectories.extend(records)
        return returns

    @torch.no_grad()
    def value_difference(self, algorithm: Any) -> dict[str, Any]:
        """Mean over the fixed states of max_i V_i(s) - min_i V_i(s), and each agent's mean V_i."""
        if self.value_inputs is None:
            return {"value_difference": None, "value_difference_std": None, "agent_values": None}
        values = algorithm.state_values(self.value_inputs, self.acting_generator())          # (N, K)
        spread = values.max(dim=0).values - values.min(dim=0).values
        return {"value_difference": spread.mean().item(), "value_difference_std": spread.std().item(),
                "agent_values": values.mean(dim=1).tolist()}

    @torch.no_grad()
    def extrapolation_error(self, algorithm: Any) -> dict[str, Any]:
        """|mean_i Q_i(s_t, a_i,t) - R_t| over the usable steps of the last evaluation's rollouts."""
        limit = math.inf if self.gamma >= 1.0 else math.log(self.tail_tolerance) / math.log(self.gamma)
        errors, estimates, targets = [], [], []
        for record in self.trajectories:
            length = len(record["rewards"])
            mc = discounted_returns(np.asarray(record["rewards"]), self.gamma)
            usable = np.ones(length, dtype=bool) if record["terminated"] else (length - np.arange(length)) >= limit
            if not usable.any():
                continue
            inputs = torch.as_tensor(np.stack(record["inputs"])[usable], dtype=torch.float32)       # (T, [N,] D)
            if self.observation == "state":
                inputs = inputs.unsqueeze(0).expand(algorithm.n_agents, -1, -1)
            else:
                inputs = inputs.transpose(0, 1)
            actions = torch.as_tensor(np.stack(record["actions"])[usable], dtype=torch.float32).transpose(0, 1)
            q = algorithm.q_values(inputs, actions).mean(dim=0).double().numpy()                   # (T,)
            errors.append(np.abs(q - mc[usable]))
            estimates.append(q)
            targets.append(mc[usable])
        if not errors:
            return {"extrapolation_error": None, "q_estimate": None, "mc_return": None, "extrapolation_steps": 0}
        return {"extrapolation_error": float(np.concatenate(errors).mean()),
                "q_estimate": float(np.concatenate(estimates).mean()),
                "mc_return": float(np.concatenate(targets).mean()),
                "extrapolation_steps": int(sum(len(e) for e in errors))}

    def diagnostics(self, algorithm: Any) -> dict[str, Any] | None:
        """Both diagnostics for the algorithm just evaluated; None for policies without a critic."""
        if not getattr(algorithm, "has_critic", False):
            return None
        return self.value_difference(algorithm) | self.extrapolation_error(algorithm)


# -- reporting: `python -m baselines.diagnostics DIR... [--plot PREFIX]` ------------------------------
DIAGNOSTIC_KEYS = ("value_difference", "extrapolation_error")


def diagnostics_table(results: list[dict[str, Any]]) -> str:
    """Markdown: per (dataset, configuration) the final evaluation's diagnostics, mean +- std across seeds."""
    from baselines.report import group_results
    lines = ["| dataset | configuration | seeds | updates | max_i V_i - min_i V_i | extrapolation error "
             "| mean_i Q_i | Monte Carlo return |", "|---|---|---|---|---|---|---|---|"]

    def cell(values: list[float | None]) -> str:
        present = np.array([v for v in values if v is not None], dtype=np.float64)
        return "n/a" if present.size == 0 else f"{present.mean():.2f} ± {present.std():.2f}"

    for (dataset_id, label), runs in group_results(results).items():
        finals = [run["curve"][-1].get("diagnostics") for run in runs]
        if not any(finals):
            continue
        column = {key: [f.get(key) if f else None for f in finals]
                  for key in (*DIAGNOSTIC_KEYS, "q_estimate", "mc_return")}
        lines.append(f"| {dataset_id} | {label} | {len(runs)} | {runs[0]['updates']} | "
                     f"{cell(column['value_difference'])} | {cell(column['extrapolation_error'])} | "
                     f"{cell(column['q_estimate'])} | {cell(column['mc_return'])} |")
    return "\n".join(lines)


def plot_diagnostics(results: list[dict[str, Any]], path: str, key: str) -> None:
    """One panel per dataset: diagnostic `key` along training, mean ± std across seeds per configuration."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from baselines.report import group_results
    groups = {k: runs for k, runs in group_results(results).items()
              if all(p.get("diagnostics") and p["diagnostics"].get(key) is not None for r in runs for p in r["curve"])}
    datasets = sorted({dataset for dataset, _ in groups})
    figure, axes = plt.subplots(1, max(1, len(datasets)), figsize=(5 * max(1, len(datasets)), 3.4), squeeze=False)
    for axis, dataset in zip(axes.flat, datasets):
        for (group_dataset, label), runs in groups.items():
            if group_dataset != dataset:
                continue
            length = min(len(run["curve"]) for run in runs)
            updates = [point["update"] for point in runs[0]["curve"][:length]]
            values = np.array([[p["diagnostics"][key] for p in run["curve"][:length]] for run in runs])
            mean, std = values.mean(axis=0), values.std(axis=0)
            axis.plot(updates, mean, label=f"{label} ({len(runs)})")
            axis.fill_between(updates, mean - std, mean + std, alpha=0.2)
        axis.set_title(dataset, fontsize=9)
        axis.set_xlabel("updates")
        axis.set_ylabel(key.replace("_", " "))
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    import argparse
    from baselines.report import load_results
    parser = argparse.ArgumentParser(prog="python -m baselines.diagnostics",
                                     description="Diagnostics of decentralized runs: markdown table and plots.")
    parser.add_argument("directories", nargs="+", help="results directories written by `madata bench`")
    parser.add_argument("--plot", metavar="PREFIX", help="write PREFIX-value-difference.png and "
                                                         "PREFIX-extrapolation-error.png")
    args = parser.parse_args(argv)
    try:
        results = load_results(args.directories)
    except MadataError as error:
        raise SystemExit(f"error: {error}") from None    # one line, exit status 1
    print(diagnostics_table(results))
    if args.plot:
        for key in DIAGNOSTIC_KEYS:
            path = f"{args.plot}-{key.replace('_', '-')}.png"
            plot_diagnostics(results, path, key)
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
