"""In-memory datasets: `madatasets.load(id)` and its joint and per-agent views.

Arrays are time-major, one row per environment step:

    observations (T, N, O)   actions (T, N, A)      rewards (T, N)
    terminations (T, N)      truncations (T, N)     states (T, S)
    behavior_ids (T, N)      episode_ends (E,)      (exclusive end index of each episode)
    final_observations (E, N, O), final_states (E, S): the true next observation and
    state after the last step of each episode (never the next episode's reset).

A `mixed` dataset has one such set per agent (layout "per-agent", keys
`agent_<i>/...`): agent i's own dataset B_i, collected separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from madatasets.episode import DatasetCard, Episode
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioEnv, ScenarioSpec, episode_returns, get_spec, make
from madatasets.store import Store

JOINT_ARRAYS = ("observations", "actions", "rewards", "terminations", "truncations", "states",
                "behavior_ids", "episode_ends", "final_observations", "final_states")


def next_rows(rows: np.ndarray, final_rows: np.ndarray, episode_ends: np.ndarray) -> np.ndarray:
    """Row t+1 within an episode, and the stored final row at each episode's last step."""
    shifted = np.empty_like(rows)
    shifted[:-1] = rows[1:]
    shifted[episode_ends - 1] = final_rows
    return shifted


@dataclass
class AgentDataset:
    """Agent i's decentralized view: its own data and nothing of another agent's actions.

    `rewards` is the reward the environment gives agent i (the shared team reward
    in every scenario that has one).
    """

    agent_index: int
    observations: np.ndarray        # (T, O)
    actions: np.ndarray             # (T, A)
    rewards: np.ndarray             # (T,)
    next_observations: np.ndarray   # (T, O)
    states: np.ndarray              # (T, S)
    next_states: np.ndarray         # (T, S)
    terminations: np.ndarray        # (T,)
    truncations: np.ndarray         # (T,)
    behavior_ids: np.ndarray        # (T,)
    episode_ends: np.ndarray        # (E,)
    # Discrete (SMAX) scenarios: agent i's legal-action masks at t and at t + 1, (T, A) bool.
    legal_actions: np.ndarray | None = None
    next_legal_actions: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.observations.shape[0])


class Dataset:
    """A dataset loaded whole into memory, with its card.

    `verified_checksums` are the card's sha256 of every array, which this load
    vouched for (None when loaded with `verify=False`): computed and compared as the
    arrays decode, or, for datasets with an integrity record, by checking every
    stored chunk's digest in that record, bound to the card. What results should
    record as the data they ran on.
    """

    def __init__(self, dataset_id: str, card: dict[str, Any], arrays: dict[str, np.ndarray],
                 verified_checksums: dict[str, str] | None = None):
        self.id = dataset_id
        self.card = card if isinstance(card, DatasetCard) else DatasetCard.from_dict(card)
        self.arrays = arrays
        self.verified_checksums = verified_checksums
        self.spec: ScenarioSpec = get_spec(self.card.scenario)
        self.layout: str = self.card.layout
        self._transitions: dict[str, np.ndarray] | None = None

    # -- joint layout ---------------------------------------------------------
    def _joint(self, name: str) -> np.ndarray:
        if self.layout != "joint":
            raise MadataError(f"{self.id} has one dataset per agent (layout {self.layout!r}); "
                              f"use dataset.agent(i)")
        return self.arrays[name]

    observations = property(lambda self: self._joint("observations"))
    actions = property(lambda self: self._joint("actions"))
    rewards = property(lambda self: self._joint("rewards"))
    terminations = property(lambda self: self._joint("terminations"))
    truncations = property(lambda self: self._joint("truncations"))
    states = property(lambda self: self._joint("states"))
    behavior_ids = property(lambda self: self._joint("behavior_ids"))
    episode_ends = property(lambda self: self._joint("episode_ends"))
    final_observations = property(lambda self: self._joint("final_observations"))
    final_states = property(lambda self: self._joint("final_states"))

    @property
    def n_agents(self) -> int:
        return self.spec.n_agents

    @property
    def total_steps(self) -> int:
        return int(self.card["total_steps"])

    def __len__(self) -> int:
        return self.total_steps

    def __repr__(self) -> str:
        return f"Dataset({self.id!r}, steps={self.total_steps}, episodes={self.card['total_episodes']})"

    def transitions(self) -> dict[str, np.ndarray]:
        """Per-agent transition arrays, time-major: (T, N, ...) and states (T, S); computed once.

        `dones` are terminations only: a truncated episode's last state is not
        terminal, so value targets must still bootstrap from it.
        """
        if self._transitions is None:
            ends = self.episode_ends
            self._transitions = {
                "observations": self.observations,
                "actions": self.actions,
                "rewards": self.rewards,
                "next_observations": next_rows(self.observations, self.final_observations, ends),
                "dones": self.terminations,
                "truncations": self.truncations,
                "states": self.states,
                "next_states": next_rows(self.states, self.final_states, ends),
            }
        return self._transitions

    @property
    def total_episodes(self) -> int:
        return int(self.card.total_episodes)

    def episode(self, index: int) -> Episode:
        """Episode `index` (0-based, in collection order)."""
        ends = self.episode_ends
        if not 0 <= index < len(ends):
            raise MadataError(f"episode {index} out of range; {self.id} has episodes 0..{len(ends) - 1}")
        start, end = (int(ends[index - 1]) if index else 0), int(ends[index])
        t = self.transitions()
        return Episode(index=index, observations=t["observations"][start:end], actions=t["actions"][start:end],
                       rewards=t["rewards"][start:end], next_observations=t["next_observations"][start:end],
                       terminations=t["dones"][start:end], truncations=t["truncations"][start:end],
                       states=t["states"][start:end], next_states=t["next_states"][start:end],
                       behavior_ids=self.behavior_ids[start:end])

    def episodes(self) -> Iterator[Episode]:
        """Every episode in collection order."""
        for index in range(len(self.episode_ends)):
            yield self.episode(index)

    def sample_episodes(self, n: int, generator: np.random.Generator) -> list[Episode]:
        """`n` distinct episodes drawn uniformly with `generator` (seed it for the same draw)."""
        total = len(self.episode_ends)
        if not 0 <= n <= total:
            raise MadataError(f"cannot sample {n} episodes; {self.id} has {total}")
        return [self.episode(int(i)) for i in generator.choice(total, size=n, replace=False)]

    def filter_episodes(self, keep: Callable[[Episode], bool]) -> list[Episode]:
        """The episodes for which `keep(episode)` is true, in collection order."""
        return [episode for episode in self.episodes() if keep(episode)]

    def make_env(self) -> ScenarioEnv:
        """The scenario this dataset was collected on, at the card's scenario version."""
        if self.spec.version != self.card.scenario_version:
            raise MadataError(f"{self.id} was collected on {self.card.scenario} version {self.card.scenario_version}; "
                              f"this madata registers version {self.spec.version}")
        return make(self.card.scenario)

    def episode_returns(self) -> np.ndarray:
        if self.layout != "joint":
            return np.concatenate([_episode_returns(self.arrays, f"agent_{i}/") for i in range(self.n_agents)])
        return _episode_returns(self.arrays, "")

    # -- decentralized view ---------------------------------------------------
    def agent(self, index: int) -> AgentDataset:
        """Agent `index`'s own dataset; holds no other agent's actions."""
        if not 0 <= index < self.n_agents:
            raise MadataError(f"agent index {index} out of range; {self.id} has agents 0..{self.n_agents - 1}")
        prefix = "" if self.layout == "joint" else f"agent_{index}/"
        a = self.arrays
        obs, states = a[prefix + "observations"], a[prefix + "states"]
        ends = a[prefix + "episode_ends"]
        return AgentDataset(
            agent_index=index,
            observations=obs[:, index],
            actions=a[prefix + "actions"][:, index],
            rewards=a[prefix + "rewards"][:, index],
            next_observations=next_rows(obs[:, index], a[prefix + "final_observations"][:, index], ends),
            states=states,
            next_states=next_rows(states, a[prefix + "final_states"], ends),
            terminations=a[prefix + "terminations"][:, index],
            truncations=a[prefix + "truncations"][:, index],
            behavior_ids=a[prefix + "behavior_ids"][:, index],
            episode_ends=ends,
            **({"legal_actions": a[prefix + "legal_actions"][:, index],
                "next_legal_actions": next_rows(a[prefix + "legal_actions"][:, index],
                                                a[prefix + "final_legal_actions"][:, index], ends)}
               if prefix + "legal_actions" in a else {}),
        )


def _episode_returns(arrays: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    return episode_returns(arrays[prefix + "rewards"], arrays[prefix + "episode_ends"])


def open_store(store: Any = None) -> Any:
    """A `Store`, or for an object-store URL (s3://bucket/prefix, https://...) a read-only
    `RemoteStore` over its index (madatasets/hub/remote_store.py)."""
    if isinstance(store, Store):
        return store
    from madatasets.hub.remote_store import RemoteStore, is_url
    if isinstance(store, RemoteStore):
        return store
    return RemoteStore(store) if is_url(store) else Store(store)


def load(dataset_id: str, store: Any = None, verify: bool = True, download: bool = False,
         remote: str | list[str] | None = None) -> Dataset:
    """Load a dataset whole into memory, e.g. `load("mpe-spread-3/random-v0")`.

    The card is checked against its digest and every stored chunk against the
    integrity record bound to it as it decodes (datasets written before the record:
    every array's sha256 against the card); a mismatch raises `ChecksumError`
    naming the array.
    `verify=False` skips the checks (missing chunks are still an error).

    `store` may be an object-store URL (`"s3://bucket/prefix"`): read-only, straight from
    the remote, verified the same way. `download=True` first fetches the id from the
    remotes (`remote`, else `$MADATA_REMOTE` or the config file) into the local store when
    it is not there (madatasets/hub, docs/hub.md).
    """
    opened = open_store(store)
    if download and isinstance(opened, Store):
        from madatasets.hub.download import download as fetch
        from madatasets.store import parse_id
        if not opened.exists or not opened.has(parse_id(dataset_id)):
            remotes = [remote] if isinstance(remote, str) else list(remote or [])
            fetch(dataset_id, opened, remotes, progress=False)
    card, arrays = opened.read_arrays(dataset_id, verify=verify)
    return Dataset(card["id"], card, arrays, dict(card["checksums"]) if verify else None)


def list_datasets(store: Any = None) -> list[str]:
    return open_store(store).list()


def card(dataset_id: str, store: Any = None) -> dict[str, Any]:
    return open_store(store).card(dataset_id)
