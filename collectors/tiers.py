"""Quality tiers driven by the behaviour-policy zoo: medium, expert, medium-replay,
medium-expert and mixed (see docs/zoo.md for the definitions and their sources).

Every tier is a list of rollouts of `AssignedPolicy`, which lets agent i execute
its slice of the joint action of the zoo checkpoint assigned to it. Each part of
a mixture is its own rollout with its own step budget and a seed derived from
(seed, dataset index, part index), so proportions are exact in steps and the data
are byte-identical whatever the number of workers: all action noise is drawn from
the per-episode generator that the rollout passes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from collectors.behavior import (MLPActor, action_layout, cut_at_step, joint_to_padded,
                                 load_zoo_actor, zoo_entry)
from collectors.medium_replay import regenerate_medium_replay
from collectors.rollout import rollout
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioSpec, get_spec

# Standard deviation of the Gaussian noise added to every real action dimension
# (actions live in [-1, 1]; the noisy action is clipped back into it).
NOISE_SIGMA = 0.1

# MABCQ Sec. 4.2: agent i's dataset B_i, by share of its steps.
MIXED_PARTS: tuple[tuple[str, float], ...] = (
    ("all-early", 0.20),
    ("self-medium-others-expert", 0.35),
    ("self-expert-others-medium", 0.35),
    ("all-expert", 0.10),
)


OnEpisode = Callable[[dict[str, Any]], None]


@dataclass
class DatasetFeed:
    """One dataset of a tier: its exact row count, and `feed(on_episode)`, which hands its
    episodes to `on_episode` in order as they are rolled out (nothing is kept: the store
    writes shard by shard, so memory stays bounded whatever the step budget)."""

    rows: int
    feed: Callable[[OnEpisode], None]


@dataclass
class TierData:
    """What a tier collects: one feed per dataset prefix ('' joint, 'agent_<i>/' per agent),
    in the order the datasets are written."""

    datasets: dict[str, DatasetFeed]
    behavior_policies: list[dict[str, Any]]
    layout: str
    collection: dict[str, Any]


@dataclass
class AssignedPolicy:
    """Agent i executes its slice of `actors[assignment[i]]`'s joint action, plus noise.

    Each distinct actor is evaluated once per step on the global state (one batched
    call per policy, never a loop over agents); `behavior_ids[i]` is what the
    dataset records for agent i (an index into the card's behavior_policies).
    """

    scenario: str
    actors: list[MLPActor]
    assignment: np.ndarray       # (N,) index into actors
    behavior_ids: np.ndarray     # (N,) index into the card's behavior_policies
    sigma: float = NOISE_SIGMA

    @property
    def spec(self) -> ScenarioSpec:
        # Held by name: specs carry their simulator builder, which workers cannot unpickle.
        return get_spec(self.scenario)

    def describe(self) -> list[dict[str, Any]]:
        return [{"id": f"actor-{k}", "checksum": actor.checksum, "description": ""}
                for k, actor in enumerate(self.actors)]

    def start_episode(self, episode_index: int, rng: np.random.Generator) -> None:
        pass

    def act(self, observations: np.ndarray, state: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        spec = self.spec
        joint = np.stack([actor(state[None])[0] for actor in self.actors])       # (P, J)
        per_policy = joint_to_padded(spec, joint)                               # (P, N, A)
        actions = per_policy[self.assignment, np.arange(spec.n_agents)]         # (N, A)
        if self.sigma > 0:
            noise = rng.standard_normal(actions.shape, dtype=np.float32)
            actions = np.clip(actions + self.sigma * noise, -1.0, 1.0) * action_layout(spec)[0]
        return actions.astype(np.float32), self.behavior_ids.astype(np.int16)


def part_seed(seed: int, dataset_index: int, part_index: int) -> int:
    """Seed of one rollout part: distinct streams for every (dataset, part)."""
    return int(np.random.SeedSequence([seed, dataset_index, part_index]).generate_state(1)[0] & 0x7FFFFFFF)


def split_steps(steps: int, fractions: list[float]) -> list[int]:
    """Integer step budgets in the given proportions that sum exactly to `steps`
    (floors, then the remainder to the largest fractional parts, earlier parts first)."""
    counts = _split(steps, fractions)
    if min(counts) < 1:
        smallest = next(n for n in range(steps + 1, 10 * len(fractions) * int(1 / min(fractions)) + 2)
                        if min(_split(n, fractions)) >= 1)
        raise MadataError(f"--env-steps {steps} is too small to split into parts of "
                          f"{', '.join(f'{f:.0%}' for f in fractions)}; use at least {smallest}")
    return counts


def _split(steps: int, fractions: list[float]) -> list[int]:
    exact = np.asarray(fractions, dtype=np.float64) * steps
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: steps - int(counts.sum())]] += 1
    return [int(c) for c in counts]


def _zoo_policy_record(role: str, info: dict[str, Any], sigma: float) -> dict[str, Any]:
    return {"id": info["id"], "checksum": info["sha256"], "role": role, "action_noise_sigma": sigma,
            "description": f"zoo {role} checkpoint (training step {info['step']}, deterministic return "
                           f"{info['return_mean']:.2f} +- {info['return_std']:.2f} over {info['episodes']} episodes)"
                           + (f", Gaussian action noise sigma {sigma}" if sigma else "")}


def _load_roles(spec: ScenarioSpec, roles: tuple[str, ...], zoo: Path | None) -> dict[str, tuple[MLPActor, dict]]:
    return {role: load_zoo_actor(spec.name, role, zoo) for role in roles}


def rollout_feed(spec: ScenarioSpec, parts: list[tuple[Any, int, int, str]], workers: int,
                 progress: bool) -> DatasetFeed:
    """A dataset made of rollout parts (policy, steps, seed, description), one after another;
    each part yields exactly its steps (the rollout cuts its last episode to fit)."""

    def feed(on_episode: OnEpisode) -> None:
        for policy, steps, seed, description in parts:
            rollout(spec.name, policy, steps, seed, workers, progress, description=description,
                    on_episode=on_episode)
    return DatasetFeed(sum(steps for _, steps, _, _ in parts), feed)


def episodes_feed(episodes: list[dict[str, Any]]) -> DatasetFeed:
    """A dataset whose episodes are already in memory (medium-replay's re-generated buffer)."""

    def feed(on_episode: OnEpisode) -> None:
        for episode in episodes:
            on_episode(episode)
    return DatasetFeed(sum(len(e["actions"]) for e in episodes), feed)


# -- the tiers ---------------------------------------------------------------------------
Runner = Callable[[int, int, bool, str], TierData]   # (steps, workers, progress, description)


def prepare_single(role: str) -> Callable[[ScenarioSpec, int, Path | None], Runner]:
    """`medium` / `expert`: the zoo checkpoint for every agent, with noise."""

    def prepare(spec: ScenarioSpec, seed: int, zoo: Path | None) -> Runner:
        actor, info = load_zoo_actor(spec.name, role, zoo)
        policy = AssignedPolicy(spec.name, [actor], np.zeros(spec.n_agents, dtype=np.int64),
                                np.zeros(spec.n_agents, dtype=np.int16))

        def run(steps: int, workers: int, progress: bool, description: str) -> TierData:
            feed = rollout_feed(spec, [(policy, steps, seed, description)], workers, progress)
            return TierData({"": feed}, [_zoo_policy_record(role, info, NOISE_SIGMA)], "joint",
                            {"action_noise": {"type": "gaussian", "sigma": NOISE_SIGMA},
                             "episode_seeding": "SeedSequence([seed, episode_index])"})
        return run
    return prepare


def prepare_medium_expert(spec: ScenarioSpec, seed: int, zoo: Path | None) -> Runner:
    """Equal parts (in steps) of the medium and the expert tier, medium first."""
    loaded = _load_roles(spec, ("medium", "expert"), zoo)

    def run(steps: int, workers: int, progress: bool, description: str) -> TierData:
        counts = split_steps(steps, [0.5, 0.5])
        parts = []
        for k, (role, count) in enumerate(zip(("medium", "expert"), counts)):
            policy = AssignedPolicy(spec.name, [loaded[role][0]], np.zeros(spec.n_agents, dtype=np.int64),
                                    np.full(spec.n_agents, k, dtype=np.int16))
            parts.append((policy, count, part_seed(seed, 0, k), f"{description} [{role}]"))
        return TierData({"": rollout_feed(spec, parts, workers, progress)},
                        [_zoo_policy_record(role, loaded[role][1], NOISE_SIGMA) for role in ("medium", "expert")],
                        "joint",
                        {"action_noise": {"type": "gaussian", "sigma": NOISE_SIGMA},
                         "parts": [{"policy": role, "steps": count, "seed": part_seed(seed, 0, k)}
                                   for k, (role, count) in enumerate(zip(("medium", "expert"), counts))],
                         "episode_seeding": "SeedSequence([part_seed, episode_index]), "
                                            "part_seed from SeedSequence([seed, 0, part])"})
    return run


def mixed_assignment(part: str, agent: int, n_agents: int) -> np.ndarray:
    """Role index (0 early, 1 medium, 2 expert) of every agent in one part of B_agent."""
    early, medium, expert = 0, 1, 2
    roles = {"all-early": np.full(n_agents, early), "all-expert": np.full(n_agents, expert),
             "self-medium-others-expert": np.full(n_agents, expert),
             "self-expert-others-medium": np.full(n_agents, medium)}[part].copy()
    if part == "self-medium-others-expert":
        roles[agent] = medium
    elif part == "self-expert-others-medium":
        roles[agent] = expert
    return roles


def prepare_mixed(spec: ScenarioSpec, seed: int, zoo: Path | None) -> Runner:
    """MABCQ's decentralized datasets: one B_i per agent, each collected separately."""
    roles = ("early", "medium", "expert")
    loaded = _load_roles(spec, roles, zoo)
    actors = [loaded[role][0] for role in roles]

    def run(steps: int, workers: int, progress: bool, description: str) -> TierData:
        counts = split_steps(steps, [fraction for _, fraction in MIXED_PARTS])
        datasets, plan = {}, []
        for agent in range(spec.n_agents):
            parts = []
            for k, ((part, _), count) in enumerate(zip(MIXED_PARTS, counts)):
                assignment = mixed_assignment(part, agent, spec.n_agents)
                policy = AssignedPolicy(spec.name, actors, assignment, assignment.astype(np.int16))
                parts.append((policy, count, part_seed(seed, agent, k), f"{description} B_{agent} [{part}]"))
                plan.append({"agent_dataset": agent, "part": part, "steps": count,
                             "seed": part_seed(seed, agent, k),
                             "policy_of_agent": [roles[r] for r in assignment]})
            datasets[f"agent_{agent}/"] = rollout_feed(spec, parts, workers, progress)
        return TierData(datasets, [_zoo_policy_record(role, loaded[role][1], NOISE_SIGMA) for role in roles],
                        "per-agent",
                        {"action_noise": {"type": "gaussian", "sigma": NOISE_SIGMA, "parts": "all"},
                         "steps_per_agent_dataset": steps,
                         "mixture": {part: fraction for part, fraction in MIXED_PARTS},
                         "parts": plan,
                         "episode_seeding": "SeedSequence([part_seed, episode_index]), "
                                            "part_seed from SeedSequence([seed, agent, part])"})
    return run


def prepare_medium_replay(spec: ScenarioSpec, seed: int, zoo: Path | None) -> Runner:
    """The transitions the zoo's training run executed up to its medium checkpoint, re-generated."""
    entry = zoo_entry(spec.name, zoo)
    if seed != entry["seed"]:
        raise MadataError(f"medium-replay is the replay buffer of the zoo's training run of {spec.name}, "
                          f"which used seed {entry['seed']}; pass --seed {entry['seed']}")
    algorithm = entry["algorithm"]

    def run(steps: int, workers: int, progress: bool, description: str) -> TierData:
        episodes, report = regenerate_medium_replay(spec.name, zoo, progress=progress)
        buffer_steps = sum(len(e["actions"]) for e in episodes)
        if steps < buffer_steps:
            episodes = cut_at_step(episodes, steps)
        if not report["reproduced"]:
            import warnings
            warnings.warn(f"{spec.name}: the re-run did not reproduce the zoo's medium checkpoint bit for bit "
                          f"(different CPU or torch build); the card records both checksums")
        warmup = entry["config"]["learning_starts"]
        policies = [{"id": f"{algorithm}-warmup-uniform", "checksum": None,
                     "description": f"uniform random actions of the first {warmup} training steps "
                                    f"(the warm-up, learning_starts)"}] if warmup else []
        exploration = ("its Gaussian policy, whose standard deviation it learns" if algorithm in ("mappo", "ppo")
                       else f"exploration noise sigma {entry['config'].get('exploration_sigma')}")
        runs = report.get("runs", [report | {"seed": entry["seed"]}])
        spans = "; ".join(f"seed {run['seed']}: steps {warmup} to {run['stop_step']}" for run in runs)
        policies.append({"id": f"{algorithm}-training-exploration", "checksum": None,
                         "description": f"the {algorithm.upper()} learner while training ({exploration}), {spans}"})
        source = ("re-run of the zoo training up to its medium checkpoint" if len(runs) == 1 else
                  f"re-runs of the zoo training with seeds {', '.join(str(r['seed']) for r in runs)}, "
                  f"each up to its own medium checkpoint, one after another")
        return TierData({"": episodes_feed(episodes)}, policies, "joint",
                        {"action_noise": None, "source": source,
                         "buffer_steps": buffer_steps, "steps_cap_applied": steps < buffer_steps,
                         "workers_used": 1, "regeneration": report})
    return run


TIER_COLLECTORS: dict[str, Callable[[ScenarioSpec, int, Path | None], Runner]] = {
    "medium": prepare_single("medium"),
    "expert": prepare_single("expert"),
    "medium-expert": prepare_medium_expert,
    "mixed": prepare_mixed,
    "medium-replay": prepare_medium_replay,
}

