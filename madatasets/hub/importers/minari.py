"""Minari (Farama) single-agent MuJoCo datasets, converted into a MaMuJoCo scenario.

Layout (what minari 0.5's `DataCollector.create_dataset` writes): `<dataset>/data/main_data.hdf5`,
one group `episode_<k>` per episode (`observations` (T+1, S), `actions` (T, A), `rewards`,
`terminations`, `truncations` (T,)), and `<dataset>/data/metadata.json` (`dataset_id`,
`env_spec`). PATH is a dataset folder, its `data` folder or a folder up to four levels
above some; each becomes `imported/minari-<scenario>/<quality>-v0`.

The single-agent observation is the scenario's global state (MaMuJoCo's `state()` is the
single-agent env's observation); each agent's observation and action come from
gymnasium-robotics' own `map_global_state_to_local_observations` and
`map_global_action_to_local_actions`; each agent's reward is the single reward. Walker2d-v5
and Hopper-v5 clip joint velocities to [-10, 10] in that observation while MaMuJoCo's agents
see them unclipped: where a state sits at the clip the true values are lost; the card counts
those rows and the command warns.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from madatasets.errors import MadataError
from madatasets.hub.importers.writing import write_imported
from madatasets.hub.importers.mamujoco_mapping import (VELOCITY_CLIP, local_actions, local_observations, mapping,
                                                     on_clip)
from madatasets.scenarios import MAMUJOCO_TASKS, get_spec
from madatasets.store import QUALITIES, Store, parse_id

SOURCE_URL = "https://minari.farama.org"
LAYOUT = ("<dataset>/data/main_data.hdf5 (groups episode_<k>: observations (T+1, S), actions (T, A), rewards, "
          "terminations, truncations (T,)) and <dataset>/data/metadata.json (dataset_id, env_spec)")
NOTE = ("imported from a single-agent Minari dataset: the data came from a single-agent policy acting on all "
        "joints, so the agents' actions are the parts of one joint action (not decentralised behaviour); each "
        "agent's reward is the single-agent reward (the team reward); the agents' observations are mapped from the "
        "single-agent observation, the scenario's global state, by gymnasium-robotics (agent_obsk=1)")
# gymnasium.make kwargs that change only rendering, never the data.
_RENDER_KWARGS = {"render_mode", "default_camera_config", "camera_id", "camera_name", "width", "height",
                  "visual_options"}
_EPISODE = re.compile(r"episode_(\d+)")


def dataset_folders(root: Path) -> list[Path]:
    """The `data` folders holding main_data.hdf5 under `root` (itself included, five levels down)."""
    candidates = [root, *(p for depth in range(1, 6) for p in root.glob("/".join(["*"] * depth)))]
    return sorted({p for p in candidates if p.is_dir() and not p.is_symlink() and (p / "main_data.hdf5").is_file()})


def _metadata(data: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        metadata = json.loads((data / "metadata.json").read_text())
        spec = metadata.get("env_spec")
        spec = json.loads(spec) if isinstance(spec, str) else spec
    except (OSError, ValueError, AttributeError) as error:
        raise MadataError(f"{data}/metadata.json: missing or not readable JSON ({error}); expected {LAYOUT}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("id"), str):
        raise MadataError(f"{data}/metadata.json has no env_spec id; cannot check which environment made the data")
    return metadata, spec


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


def check_env(data: Path, env_spec: dict[str, Any], scenario: str) -> None:
    """Refuse data from another task, another version of it, or other gymnasium.make kwargs."""
    import gymnasium
    from gymnasium.envs.registration import load_env_creator
    task, _ = MAMUJOCO_TASKS[scenario]
    expected, found = f"{task}-v5", env_spec["id"]
    if found != expected:
        fits = [name for name, (t, _) in MAMUJOCO_TASKS.items() if f"{t}-v5" == found]
        hint = f"pass --scenario {' or '.join(fits)}" if fits else "no madata scenario runs it"
        raise MadataError(f"{data}: the Minari data comes from {found}, scenario {scenario} runs {expected}; {hint}")
    registered = gymnasium.spec(expected)
    defaults = {name: p.default for name, p in inspect.signature(load_env_creator(registered.entry_point))
                .parameters.items()} | registered.kwargs
    changed = sorted(k for k, v in (env_spec.get("kwargs") or {}).items()
                     if k not in _RENDER_KWARGS and _plain(defaults.get(k, "<none>")) != _plain(v))
    if changed:
        raise MadataError(f"{data}: the Minari data's {expected} was made with non-default {', '.join(changed)}; "
                          f"scenario {scenario} runs the defaults, so its dynamics or rewards would differ")


def read_episodes(data: Path, scenario: str) -> list[dict[str, np.ndarray]]:
    import h5py
    spec, m = get_spec(scenario), mapping(scenario)
    path = data / "main_data.hdf5"
    names = ("observations", "actions", "rewards", "terminations", "truncations")
    try:
        with h5py.File(path, "r") as handle:
            keys = sorted((k for k in handle if _EPISODE.fullmatch(k)), key=lambda k: int(k.split("_")[1]))
            episodes = []
            for key in keys:
                group = handle[key]
                missing = [n for n in names if not isinstance(group, h5py.Group) or
                           not isinstance(group.get(n), h5py.Dataset)]
                if missing:
                    raise MadataError(f"{path}: {key} has no {missing[0]} array; expected {LAYOUT}")
                episodes.append({n: group[n][()] for n in names} | {"name": key})
    except OSError as error:
        raise MadataError(f"{path}: not a readable HDF5 file ({error})") from None
    if not episodes:
        raise MadataError(f"{path}: no episode_<k> groups; expected {LAYOUT}")
    for e in episodes:
        steps = len(e["actions"])
        want = {"observations": (steps + 1, m.state_dim), "actions": (steps, len(m.low)), "rewards": (steps,),
                "terminations": (steps,), "truncations": (steps,)}
        for name, shape in want.items():
            if e[name].shape != shape:
                raise MadataError(f"{path}: {e['name']}/{name} has shape {e[name].shape}; scenario {scenario} "
                                  f"(state {spec.state_dim} values, {len(m.low)} joint actions) expects {shape}")
        if not 0 < steps <= spec.episode_limit:
            raise MadataError(f"{path}: {e['name']} has {steps} steps; scenario {scenario}'s episodes last 1 to "
                              f"{spec.episode_limit} steps")
        if (e["terminations"][:-1] | e["truncations"][:-1]).any():
            raise MadataError(f"{path}: {e['name']} ends before its last step; Minari episodes end at their first "
                              f"termination or truncation")
        actions = e["actions"]
        if not np.all(np.isfinite(actions)) or (actions < m.low - 1e-6).any() or (actions > m.high + 1e-6).any():
            raise MadataError(f"{path}: {e['name']} has actions outside {m.task}'s box [{m.low.min()}, "
                              f"{m.high.max()}] (or not finite)")
    return episodes


def convert(data: Path, scenario: str, root: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The madata arrays and the provenance of one Minari dataset's `data` folder."""
    spec, m = get_spec(scenario), mapping(scenario)
    metadata, env_spec = _metadata(data)
    check_env(data, env_spec, scenario)
    quality_name = str(metadata.get("dataset_id", "")).rsplit("/", 1)[-1]
    episodes = read_episodes(data, scenario)
    n = spec.n_agents
    states = np.concatenate([e["observations"][:-1] for e in episodes]).astype(np.float32)
    final_states = np.stack([e["observations"][-1] for e in episodes]).astype(np.float32)
    steps = len(states)
    episode_ends = np.cumsum([len(e["actions"]) for e in episodes]).astype(np.int64)
    last = episode_ends - 1
    ended = np.array([bool(e["terminations"][-1]) for e in episodes])
    terminations = np.zeros((steps, n), dtype=bool)
    truncations = np.zeros((steps, n), dtype=bool)
    terminations[last[ended]] = True
    truncations[last[~ended]] = True     # Minari truncates an episode cut by a reset; so do we
    rewards = np.concatenate([e["rewards"] for e in episodes]).astype(np.float32)
    arrays = {"observations": local_observations(states, scenario),
              "actions": local_actions(np.concatenate([e["actions"] for e in episodes]), scenario),
              "rewards": np.repeat(rewards[:, None], n, axis=1), "terminations": terminations,
              "truncations": truncations, "states": states, "behavior_ids": np.zeros((steps, n), dtype=np.int16),
              "episode_ends": episode_ends, "final_observations": local_observations(final_states, scenario),
              "final_states": final_states}
    folder = data.parent if data.name == "data" else data
    provenance = {"source": "minari", "source_url": SOURCE_URL, "layout": LAYOUT, "note": NOTE,
                  "minari_dataset_id": metadata.get("dataset_id"), "env_spec_id": env_spec["id"],
                  "max_episode_steps": env_spec.get("max_episode_steps"),
                  "original_quality": quality_name, "minari_version": metadata.get("minari_version"),
                  "algorithm_name": metadata.get("algorithm_name"),
                  "folder": folder.relative_to(root).as_posix() if folder != root and root in folder.parents else ".",
                  "original_files": {f"data/{p.name}": {"size": p.stat().st_size, "sha256": _sha256(p)}
                                     for p in (data / "main_data.hdf5", data / "metadata.json")},
                  "mapping": "gymnasium-robotics MultiAgentMujocoEnv.map_global_state_to_local_observations and "
                             "map_global_action_to_local_actions"}
    if metadata.get("ref_max_score") is not None:
        # Minari's own references (random policy, expert policy), provenance only (no normalized score).
        provenance["their_reference_scores"] = {"random": metadata.get("ref_min_score"),
                                                "expert": metadata["ref_max_score"]}
    clipped = on_clip(np.concatenate([states, final_states]), scenario)
    if clipped is not None:
        provenance["clipped_velocity_rows"] = rows = int(clipped.sum())
        if rows:
            provenance["warning"] = (f"{rows} of {len(clipped)} states have a joint velocity on {m.task}-v5's "
                                     f"observation clip (+-{VELOCITY_CLIP[m.task]:g}); there the agents' observations "
                                     f"hold the clipped value where the {scenario} environment gives the true one")
    return arrays, provenance


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _quality(data: Path, minari_id: Any, quality: str | None) -> str:
    if quality is not None:
        if quality not in QUALITIES:
            raise MadataError(f"--quality {quality!r} is not a madata quality; valid: {', '.join(QUALITIES)}")
        return quality
    name = re.sub(r"-v\d+$", "", str(minari_id).rsplit("/", 1)[-1])
    if name in QUALITIES:
        return name
    raise MadataError(f"{data}: cannot tell the quality from the Minari id {minari_id!r} ({name!r} is not a madata "
                      f"quality); pass --quality, one of {', '.join(QUALITIES)}")


def import_minari(path: Path, store: Store, scenario: str | None, quality: str | None = None,
                  overwrite: bool = False, provenance: dict[str, Any] | None = None,
                  ) -> Iterator[tuple[str, dict[str, Any]]]:
    """Import every Minari dataset under `path`; yields (id, card) as each is written."""
    if scenario is None:
        raise MadataError(f"madata import minari needs --scenario (the MuJoCo scenario to convert into: "
                          f"{', '.join(MAMUJOCO_TASKS)})")
    spec = get_spec(scenario)
    mapping(scenario)        # a scenario that is not MuJoCo is refused before PATH is looked at
    folders = dataset_folders(path)
    if not folders:
        raise MadataError(f"{path}: no Minari dataset (a data folder with main_data.hdf5) found; expected {LAYOUT}")
    planned = []
    for data in folders:
        metadata, env_spec = _metadata(data)
        check_env(data, env_spec, scenario)      # refuse before converting anything
        tier = _quality(data, metadata.get("dataset_id"), quality)
        planned.append((data, metadata, parse_id(f"imported/minari-{scenario}/{tier}-v0")))
    if len({str(p[2]) for p in planned}) != len(planned):
        raise MadataError(f"{path}: several Minari datasets map to the same id; import them one at a time")
    for _, _, parsed in planned:
        store.check_writable(parsed, overwrite)
    for data, metadata, parsed in planned:
        arrays, source_provenance = convert(data, scenario, path)
        algorithm = metadata.get("algorithm_name") or "unknown algorithm"
        card = write_imported(store, parsed, spec, arrays,
                              {"id": "minari-single-agent",
                               "description": f"Minari {metadata.get('dataset_id')}'s single-agent policy "
                                              f"({algorithm}) acting on all joints"},
                              "minari", source_provenance | (provenance or {}), overwrite)
        yield str(parsed), card
