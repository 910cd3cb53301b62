"""Export a stored dataset to HDF5 (the whole multi-agent dataset) or to Minari.

Minari has no multi-agent support, but one agent's decentralized view (its own
observation or the global state, its own action, its reward) is a valid
single-agent offline dataset, so `export_minari` writes one Minari dataset per
agent: `madata/<scenario>-agent<i>/<quality>-v<N>`.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import h5py
import numpy as np

from madatasets.dataset import Dataset
from madatasets.errors import MadataError
from madatasets.optional import require


def export_hdf5(dataset: Dataset, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Every array under its store name plus the card as JSON in the root attributes."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise MadataError(f"{path} exists; pass --overwrite to replace it")
    partial = path.with_name(path.name + ".partial")
    try:
        with h5py.File(partial, "w") as handle:
            handle.attrs["card"] = json.dumps(dataset.card)
            handle.attrs["format"] = "madata-hdf5-1"
            for name, array in dataset.arrays.items():
                handle.create_dataset(name, data=array, compression="gzip", compression_opts=4,
                                      chunks=True if array.size else None)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def minari_dataset_id(dataset: Dataset, agent_index: int) -> str:
    scenario, rest = dataset.id.split("/")
    return f"madata/{scenario}-agent{agent_index}/{rest}"


def export_minari(dataset: Dataset, agent_index: int, observation: str = "local",
                  minari_root: str | os.PathLike | None = None) -> str:
    """Agent `agent_index`'s decentralized dataset as a Minari dataset; returns its id."""
    import gymnasium as gym

    minari = require("minari")
    EpisodeBuffer = require("minari.data_collector").EpisodeBuffer

    if observation not in ("local", "state"):
        raise MadataError(f"--observation must be 'local' or 'state', got {observation!r}")
    if dataset.spec.discrete:   # SMAX: its Box action space below would misdescribe integer actions
        raise MadataError(f"{dataset.id} has discrete actions; Minari export supports continuous datasets "
                          f"only so far (HDF5 export works for every dataset)")
    if minari_root is not None:
        os.environ["MINARI_DATASETS_PATH"] = str(minari_root)
    view = dataset.agent(agent_index)
    spec = dataset.spec
    act_size = spec.act_sizes[agent_index]
    if observation == "local":
        obs_size = spec.obs_sizes[agent_index]
        rows, next_rows = view.observations[:, :obs_size], view.next_observations[:, :obs_size]
    else:
        obs_size = spec.state_dim
        rows, next_rows = view.states, view.next_states
    starts = np.concatenate([[0], view.episode_ends[:-1]])
    buffers = []
    for index, (start, end) in enumerate(zip(starts, view.episode_ends)):
        observations = np.concatenate([rows[start:end], next_rows[end - 1: end]])
        buffers.append(EpisodeBuffer(
            id=index, observations=observations, actions=view.actions[start:end, :act_size],
            rewards=view.rewards[start:end], terminations=view.terminations[start:end],
            truncations=view.truncations[start:end], infos={}))
    references = dataset.card.get("reference_scores", {})
    minari_id = minari_dataset_id(dataset, agent_index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # Minari warns about optional metadata we do not have
        minari.create_dataset_from_buffers(
            minari_id, buffers,
            observation_space=gym.spaces.Box(-np.inf, np.inf, (obs_size,), np.float32),
            action_space=gym.spaces.Box(-1.0, 1.0, (act_size,), np.float32),
            ref_min_score=references.get("random"), ref_max_score=references.get("expert"),
            algorithm_name=",".join(p["id"] for p in dataset.card["behavior_policies"]),
            author="madata", code_permalink="madata export",
            description=(f"Agent {agent_index}'s decentralized view of madata dataset {dataset.id} "
                         f"(observation: {observation}). Reference scores are team returns "
                         f"(sum over steps of the mean reward over agents)."),
            data_format="hdf5")
    return minari_id
