"""OMAR (Pan et al., ICML 2022): the authors' released MPE and HalfCheetah datasets.

Layout (their `utils/buffer.py`, `main.py`): `datasets/<env>/<quality>/seed_<k>_data/`
holding, for every agent i, `obs_i.npy` (T, O_i), `acs_i.npy` (T, A_i), `rews_i.npy`
(T,), `next_obs_i.npy` (T, O_i) and `dones_i.npy` (T,); HalfCheetah adds
`states_i.npy` and `next_states_i.npy` (T, S). PATH is one seed folder or any folder
above some (up to four levels); each seed folder becomes
`imported/omar-<scenario>-s<k>/<quality>-v0`.

Their files hold no episode boundaries: an episode ends where an agent's done flag is
set, where `next_obs[t]` differs from `obs[t + 1]` (the next row is a reset), and at
the last row. Without state files (MPE) the state is the agents' observations side
by side, which is what the madata MPE scenarios store as `states` too.

Their MPE is a modified MPE (a positive navigation reward, shaped predator rewards, a
pretrained prey), so their returns do not match mpe2's: the card says so, records
their reference scores as provenance only and gives no normalized score.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from madatasets.errors import MadataError
from madatasets.hub.importers.writing import write_imported
from madatasets.scenarios import get_spec
from madatasets.store import QUALITIES, Store, parse_id

SOURCE_URL = "https://github.com/ling-pan/OMAR"
NOTE = ("imported from the OMAR authors' released data. Their MPE is a modified MPE (navigation reward "
        "sum_l min(1/d_l, 10) - 5 per collision, shaped predator rewards, a pretrained fixed prey): its rewards "
        "do not match mpe2's, so returns here are not comparable with madata's own datasets and madata's "
        "reference scores do not apply. Their HalfCheetah data came from MuJoCo 2.0 (HalfCheetah-v2).")
# The authors' random / expert reference returns (paper, Table 6), provenance only.
THEIR_REFERENCES = {"simple_spread": (159.8, 516.8), "simple_tag": (-4.1, 185.6), "simple_world": (-6.8, 79.5),
                    "HalfCheetah-v2": (-284.0, 3568.8)}
_SEED = re.compile(r"seed_(\d+)_data")
LAYOUT = ("datasets/<env>/<quality>/seed_<k>_data/{obs,acs,rews,next_obs,dones}_<i>.npy "
          "(+ states_<i>.npy, next_states_<i>.npy for HalfCheetah)")


def seed_folders(root: Path) -> list[Path]:
    """The folders under `root` (itself included, four levels down) that hold obs_0.npy."""
    found = []
    for depth in range(5):
        for folder in ([root] if depth == 0 else root.glob("/".join(["*"] * depth))):
            if folder.is_dir() and not folder.is_symlink() and (folder / "obs_0.npy").is_file():
                found.append(folder)
    return sorted(set(found))


def _load(path: Path) -> np.ndarray:
    try:
        # allow_pickle=False: a released .npy file must not run code.
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise MadataError(f"{path}: not a readable numpy array ({error})") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def convert(folder: Path, scenario: str, quality: str, root: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The madata arrays and the provenance of one seed folder."""
    spec = get_spec(scenario)
    n = len(sorted(folder.glob("obs_*.npy")))
    if n != spec.n_agents:
        raise MadataError(f"{folder}: {n} agents' files (obs_<i>.npy), scenario {scenario} has {spec.n_agents}; "
                          f"pass the --scenario the data was collected in")
    names = ("obs", "acs", "rews", "next_obs", "dones")
    missing = [f"{name}_{i}.npy" for i in range(n) for name in names if not (folder / f"{name}_{i}.npy").is_file()]
    if missing:
        raise MadataError(f"{folder}: missing {', '.join(missing[:4])}; expected {LAYOUT}")
    data = {(name, i): _load(folder / f"{name}_{i}.npy") for i in range(n) for name in names}
    steps = len(data[("obs", 0)])
    for (name, i), array in data.items():
        if len(array) != steps:
            raise MadataError(f"{folder}/{name}_{i}.npy has {len(array)} rows, obs_0.npy {steps}; the files disagree")
    for i in range(n):
        for name, size, what in (("obs", spec.obs_sizes[i], "observations"), ("next_obs", spec.obs_sizes[i],
                                 "observations"), ("acs", spec.act_sizes[i], "actions")):
            array = data[(name, i)]
            if array.ndim != 2 or array.shape[1] != size:
                raise MadataError(f"{folder}/{name}_{i}.npy has shape {array.shape}; scenario {scenario} expects "
                                  f"({steps}, {size}) {what} for agent {i}")
    if steps == 0:
        raise MadataError(f"{folder}: the files hold no rows")
    for i in range(n):
        if not np.all(np.isfinite(data[("acs", i)])) or np.abs(data[("acs", i)]).max() > 1.0 + 1e-6:
            raise MadataError(f"{folder}/acs_{i}.npy has actions outside [-1, 1] (or not finite); madata stores "
                              f"actions in [-1, 1]")
    stack = lambda name: np.stack([data[(name, i)] for i in range(n)], axis=1)     # noqa: E731
    obs, next_obs = stack("obs").astype(np.float32), stack("next_obs").astype(np.float32)
    dones = stack("dones").astype(bool)
    # The next row is a reset where next_obs[t] != obs[t + 1]; a done flag ends an episode too.
    ends = dones.any(axis=1)
    ends[:-1] |= np.any(next_obs[:-1] != obs[1:], axis=(1, 2))
    ends[-1] = True
    end_rows = np.flatnonzero(ends)
    states_files = [folder / "states_0.npy", folder / "next_states_0.npy"]
    if all(p.is_file() for p in states_files):
        states, next_states = (_load(p).astype(np.float32) for p in states_files)
        if states.shape != (steps, spec.state_dim) or next_states.shape != (steps, spec.state_dim):
            raise MadataError(f"{folder}/states_0.npy has shape {states.shape}; scenario {scenario} expects "
                              f"({steps}, {spec.state_dim})")
        state_source = "states_0.npy / next_states_0.npy"
    elif spec.state_dim == sum(spec.obs_sizes):
        states, next_states = obs.reshape(steps, -1), next_obs.reshape(steps, -1)
        state_source = "the agents' observations side by side (no state files in the source)"
    else:
        raise MadataError(f"{folder}: no states_0.npy, and scenario {scenario}'s state ({spec.state_dim} values) is "
                          f"not the agents' observations side by side")
    terminations = np.zeros((steps, n), dtype=bool)
    truncations = np.zeros((steps, n), dtype=bool)
    terminations[end_rows] = dones[end_rows].any(axis=1, keepdims=True)
    truncations[end_rows] = ~terminations[end_rows]
    arrays = {
        "observations": obs, "actions": stack("acs").astype(np.float32), "rewards": stack("rews").astype(np.float32),
        "terminations": terminations, "truncations": truncations, "states": states,
        "behavior_ids": np.zeros((steps, n), dtype=np.int16), "episode_ends": (end_rows + 1).astype(np.int64),
        "final_observations": next_obs[end_rows], "final_states": next_states[end_rows],
    }
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".npy")
    provenance = {"source": "omar", "source_url": SOURCE_URL, "note": NOTE, "layout": LAYOUT,
                  "folder": folder.relative_to(root).as_posix() if folder != root else ".",
                  "original_files": {p.name: {"size": p.stat().st_size, "sha256": _sha256(p)} for p in files},
                  "episode_boundaries": "inferred: a done flag, next_obs[t] != obs[t + 1], or the last row",
                  "states": state_source}
    env = next((part for part in folder.parts[::-1] if part in THEIR_REFERENCES), None)
    if env is not None:
        provenance["their_reference_scores"] = dict(zip(("random", "expert"), THEIR_REFERENCES[env]))
    return arrays, provenance


def _quality(folder: Path, quality: str | None) -> str:
    if quality is not None:
        if quality not in QUALITIES:
            raise MadataError(f"--quality {quality!r} is not a madata quality; valid: {', '.join(QUALITIES)}")
        return quality
    if folder.parent.name in QUALITIES:
        return folder.parent.name
    raise MadataError(f"{folder}: cannot tell the quality from the folder names (expected a parent folder named "
                      f"one of {', '.join(QUALITIES)}); pass --quality")


def import_omar(path: Path, store: Store, scenario: str | None, quality: str | None = None,
                overwrite: bool = False, provenance: dict[str, Any] | None = None,
                ) -> Iterator[tuple[str, dict[str, Any]]]:
    """Import every seed folder under `path`; yields (id, card) as each is written."""
    if scenario is None:
        raise MadataError("madata import omar needs --scenario (the madata scenario with the data's shapes, "
                          "e.g. mpe-spread-3)")
    spec = get_spec(scenario)
    folders = seed_folders(path)
    if not folders:
        raise MadataError(f"{path}: no OMAR seed folder (one with obs_0.npy) found; expected {LAYOUT}")
    planned = []
    for folder in folders:
        match = _SEED.fullmatch(folder.name)
        seed = int(match[1]) if match else 0
        dataset_id = f"imported/omar-{scenario}-s{seed}/{_quality(folder, quality)}-v0"
        planned.append((folder, seed, parse_id(dataset_id)))
    if len({str(p[2]) for p in planned}) != len(planned):
        raise MadataError(f"{path}: several seed folders map to the same id; import them one at a time")
    for folder, seed, parsed in planned:
        # Refuse before converting anything (as collect does).
        store.check_writable(parsed, overwrite)
    for folder, seed, parsed in planned:
        arrays, source_provenance = convert(folder, scenario, parsed.quality, path)
        card = write_imported(store, parsed, spec, arrays,
                              {"id": "omar-released-data",
                               "description": "the OMAR authors' behaviour data (policies not released)"},
                              "omar", source_provenance | (provenance or {}), overwrite, seed=seed)
        yield str(parsed), card
