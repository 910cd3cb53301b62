"""Export a stored dataset to HDF5 (the whole multi-agent dataset) or to Minari.

Minari has no multi-agent support, but one agent's decentralized view (its own
observation or the global state, its own action, its reward) is a valid
single-agent offline dataset, so `export_minari` writes one Minari dataset per
agent: `madata/<scenario>-agent<i>/<quality>-v<N>`.

Exports finish or leave nothing: each is written to a staging name (a hidden
directory Minari does not list, an HDF5 `.partial` file), after checking that the
disk has room for it, and moved into place with one rename (an atomic exchange
when it replaces an earlier export).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
import warnings
from pathlib import Path

import h5py
import numpy as np

from madatasets.dataset import Dataset
from madatasets.errors import MadataError
from madatasets.layout import exchange, exclusive
from madatasets.optional import require

STAGING_PREFIX = ".madata-staging-"
# Headroom over the raw bytes: HDF5 and Minari metadata, chunk indexes, a worst-case codec.
SPACE_MARGIN = 1.1


def _check_space(directory: Path, nbytes: int, what: str) -> None:
    """Refuse before writing when the export cannot fit: a full disk mid-write makes HDF5
    crash the process rather than raise."""
    free = shutil.disk_usage(directory).free
    if nbytes * SPACE_MARGIN > free:
        raise MadataError(f"{what} needs up to {nbytes * SPACE_MARGIN / 2**20:.1f} MiB and {directory} has "
                          f"{free / 2**20:.1f} MiB free; free some space or choose another location")


def export_hdf5(dataset: Dataset, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Every array under its store name plus the card as JSON in the root attributes."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise MadataError(f"{path} exists; pass --overwrite to replace it")
    if not path.absolute().parent.is_dir():
        raise MadataError(f"--out {path}: folder {path.absolute().parent} does not exist; create it first")
    _check_space(path.absolute().parent, sum(a.nbytes for a in dataset.arrays.values()), f"the export to {path}")
    partial = path.with_name(path.name + ".partial")
    try:
        with h5py.File(partial, "w") as handle:
            handle.attrs["card"] = json.dumps(dataset.card.to_dict())
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
                  minari_root: str | os.PathLike | None = None, overwrite: bool = False) -> str:
    """Agent `agent_index`'s decentralized dataset as a Minari dataset; returns its id.

    The scenario's random and expert reference scores become Minari's `ref_min_score`
    and `ref_max_score`, so `minari.get_normalized_score` works on the export.
    """
    import gymnasium as gym

    minari = require("minari")
    EpisodeBuffer = require("minari.data_collector").EpisodeBuffer
    from minari.storage.datasets_root_dir import get_dataset_path

    if observation not in ("local", "state"):
        raise MadataError(f"--observation must be 'local' or 'state', got {observation!r}")
    if dataset.spec.discrete:   # SMAX: its Box action space below would misdescribe integer actions
        raise MadataError(f"{dataset.id} has discrete actions; Minari export supports continuous datasets "
                          f"only so far (HDF5 export works for every dataset)")
    root = Path(minari_root) if minari_root is not None else get_dataset_path().absolute()
    minari_id = minari_dataset_id(dataset, agent_index)
    final = root / minari_id
    if final.exists() and not overwrite:
        raise MadataError(f"Minari dataset {minari_id} already exists in {root}; pass --overwrite to replace it")
    root.mkdir(parents=True, exist_ok=True)
    view = dataset.agent(agent_index)
    spec = dataset.spec
    act_size = spec.act_sizes[agent_index]
    if observation == "local":
        obs_size = spec.obs_sizes[agent_index]
        rows, next_rows = view.observations[:, :obs_size], view.next_observations[:, :obs_size]
    else:
        obs_size = spec.state_dim
        rows, next_rows = view.states, view.next_states
    _check_space(root, rows.nbytes + view.actions[:, :act_size].nbytes + 3 * view.rewards.nbytes,
                 f"the Minari export {minari_id}")
    starts = np.concatenate([[0], view.episode_ends[:-1]])
    buffers = []
    for index, (start, end) in enumerate(zip(starts, view.episode_ends)):
        observations = np.concatenate([rows[start:end], next_rows[end - 1: end]])
        buffers.append(EpisodeBuffer(
            id=index, observations=observations, actions=view.actions[start:end, :act_size],
            rewards=view.rewards[start:end], terminations=view.terminations[start:end],
            truncations=view.truncations[start:end], infos={}))
    references = dataset.card.get("reference_scores", {})
    _remove_abandoned_staging(root)
    staging = root / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    staging.mkdir()
    previous = os.environ.get("MINARI_DATASETS_PATH")
    # Held while we write: a concurrent export's cleanup leaves our staging alone.
    with exclusive(staging):
        try:
            os.environ["MINARI_DATASETS_PATH"] = str(staging)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # Minari warns about optional metadata we do not have
                created = minari.create_dataset_from_buffers(
                    minari_id, buffers,
                    observation_space=gym.spaces.Box(-np.inf, np.inf, (obs_size,), np.float32),
                    action_space=gym.spaces.Box(-1.0, 1.0, (act_size,), np.float32),
                    algorithm_name=",".join(p["id"] for p in dataset.card["behavior_policies"]),
                    author="madata", code_permalink="madata export",
                    description=(f"Agent {agent_index}'s decentralized view of madata dataset {dataset.id} "
                                 f"(observation: {observation}). Reference scores are team returns "
                                 f"(sum over steps of the mean reward over agents)."),
                    data_format="hdf5")
                if {"random", "expert"} <= references.keys():
                    # Minari stores reference scores through create_dataset_from_buffers only with
                    # an evaluation env it can gym.make (a single-agent view has none), so they go
                    # into the metadata get_normalized_score reads.
                    created.storage.update_metadata({"ref_min_score": float(references["random"]),
                                                     "ref_max_score": float(references["expert"])})
            _publish_directory(staging / minari_id, final)
        finally:
            # As before staging existed: with `minari_root`, Minari's own calls in this process
            # (minari.load_dataset) find the export afterwards.
            if minari_root is not None:
                os.environ["MINARI_DATASETS_PATH"] = str(root)
            elif previous is None:
                os.environ.pop("MINARI_DATASETS_PATH", None)
            else:
                os.environ["MINARI_DATASETS_PATH"] = previous
            shutil.rmtree(staging, ignore_errors=True)
    return minari_id


def _publish_directory(staged: Path, final: Path) -> None:
    """Move a complete export into place; an earlier export is swapped out in one step."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        if not exchange(staged, final):
            # No atomic exchange here: park the old one first (a crash between leaves none,
            # never a partial one).
            parked = staged.with_name(staged.name + ".old")
            os.rename(final, parked)
            os.rename(staged, final)
        # After the exchange `staged` names the old export, removed with the staging directory.
    else:
        os.rename(staged, final)


def _remove_abandoned_staging(root: Path) -> None:
    """Staging directories of killed exports (nobody holds their lock)."""
    for entry in root.glob(STAGING_PREFIX + "*"):
        with exclusive(entry) as acquired:
            if acquired:
                shutil.rmtree(entry, ignore_errors=True)
        with contextlib.suppress(OSError):
            if entry.is_file():
                entry.unlink()
