"""OG-MARL (InstaDeep) datasets: flashbax vaults.

Layout: `<scenario>.vlt/<quality>/` (one vault per quality: Good, Medium, Poor,
Replay, Random), each with flashbax's `metadata.json` and one TensorStore array per leaf of
the experience: `observations` (1, T, N, O), `actions` (1, T, N, A), `rewards`,
`terminals`, `truncations` (1, T, N), `infos.state` (1, T, S) and, for discrete
scenarios, `infos.legals`. PATH is a quality folder or a folder holding them (the
`.vlt` folder); each becomes `imported/og-marl-<scenario>/<quality>-v0`, with OG-MARL's
qualities mapped to madata's (Good -> expert, Medium -> medium, Poor -> random,
Replay -> medium-replay, Random -> random (SMACv2 terran_5_vs_5 has a Random vault);
the card keeps the original name).

A vault keeps no observation after an episode's last step: the final observation and
state of each episode are its last ones repeated, which the card says.

SMAC vaults (discrete, `--scenario smacv1-3m`, `--scenario smacv2-terran_5_vs_5` etc.,
madatasets/smac.py) hold integer actions (1, T, N) and `infos.legals` (1, T, N, A);
they become the discrete schema (actions int16, legal_actions bool,
final_legal_actions the last masks repeated) and every action is checked against its
mask. SMAC's wrapper records the time limit as a terminal (truncations are all false
in OG-MARL's vaults), and no `won` flag is kept: both are on the card. These
scenarios have no simulator: the data is for training and offline metrics only.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from madatasets.errors import MadataError
from madatasets.hub.importers.writing import write_imported
from madatasets.scenarios import get_spec
from madatasets.store import Store, parse_id

SOURCE_URL = "https://github.com/instadeepai/og-marl"
QUALITY_MAP = {"Good": "expert", "Medium": "medium", "Poor": "random", "Replay": "medium-replay",
               "Random": "random"}
LAYOUT = ("<scenario>.vlt/<Good|Medium|Poor|Replay|Random>/ (flashbax vaults: metadata.json plus one array per leaf: "
          "observations, actions, rewards, terminals, truncations, infos.state)")


def vault_folders(root: Path) -> list[Path]:
    if (root / "metadata.json").is_file():
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "metadata.json").is_file())


def _read_vault(folder: Path) -> dict[str, np.ndarray]:
    from flashbax.vault import Vault
    # flashbax prints "Loading vault found at ..." on stdout: keep the command's output ours.
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            state = Vault(vault_name=folder.parent.name, rel_dir=str(folder.parent.parent),
                          vault_uid=folder.name).read()
        except (OSError, ValueError, KeyError, AssertionError, json.JSONDecodeError) as error:
            raise MadataError(f"{folder}: not a readable flashbax vault ({type(error).__name__}: {error})") from None
    experience = state.experience
    flat = {}
    for key in ("observations", "actions", "rewards", "terminals", "truncations"):
        if key not in experience:
            raise MadataError(f"{folder}: the vault has no {key!r}; expected {LAYOUT}")
        flat[key] = np.asarray(experience[key])
    infos = experience.get("infos", {})
    if "state" not in infos:
        raise MadataError(f"{folder}: the vault has no infos.state; expected {LAYOUT}")
    flat["state"] = np.asarray(infos["state"])
    if "legals" in infos:
        flat["legals"] = np.asarray(infos["legals"])
    for key, array in flat.items():
        if array.shape[0] != 1:
            raise MadataError(f"{folder}: {key} has {array.shape[0]} rows on the batch axis; OG-MARL vaults have 1")
        flat[key] = array[0]
    return flat


def _tree_digest(folder: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files), "sha256": digest.hexdigest()}


def _discrete_actions(folder: Path, data: dict[str, np.ndarray], scenario: str, n_actions: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Integer actions (T, N) int16 and masks (T, N, A) bool, each action checked against its mask."""
    if "legals" not in data:
        raise MadataError(f"{folder}: the vault has no infos.legals; scenario {scenario} is discrete and needs "
                          f"the legal-action masks")
    raw = data["actions"]
    if raw.ndim == 3 and raw.shape[-1] == 1:      # (T, N, 1): some writers keep a trailing axis
        raw = raw[..., 0]
    if not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)) or raw.min() < 0 or raw.max() >= n_actions:
        raise MadataError(f"{folder}: actions must be integers in [0, {n_actions}) for scenario {scenario}")
    actions = raw.astype(np.int16)
    legal_values = data["legals"]
    if not np.isin(legal_values, (0, 1)).all():
        raise MadataError(f"{folder}: infos.legals must be 0/1 masks")
    legal = legal_values.astype(bool)
    taken = np.take_along_axis(legal, actions[..., None].astype(np.int64), -1)[..., 0]
    if not taken.all():
        row, agent = map(int, np.argwhere(~taken)[0])
        raise MadataError(f"{folder}: step {row}, agent {agent} took action {int(actions[row, agent])}, which its "
                          f"legal-action mask forbids; refused (madata's discrete data obeys its masks)")
    return actions, legal


def convert(folder: Path, scenario: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    spec = get_spec(scenario)
    data = _read_vault(folder)
    obs = data["observations"].astype(np.float32)
    steps = len(obs)
    n = spec.n_agents
    want = {"observations": (steps, n, spec.obs_dim),
            "actions": (steps, n) if spec.discrete else (steps, n, spec.act_dim),
            "rewards": (steps, n), "terminals": (steps, n), "truncations": (steps, n), "state": (steps, spec.state_dim)}
    if spec.discrete:
        want["legals"] = (steps, n, spec.act_dim)
        if data["actions"].shape == (steps, n, 1):
            want["actions"] = (steps, n, 1)
    for key, shape in want.items():
        if key in data and data[key].shape != shape:
            raise MadataError(f"{folder}: {key} has shape {data[key].shape}, scenario {scenario} expects {shape}")
    if steps == 0:
        raise MadataError(f"{folder}: the vault holds no steps")
    if spec.discrete:
        actions, legal = _discrete_actions(folder, data, scenario, spec.act_dim)
    else:
        actions = data["actions"].astype(np.float32)
        if not np.all(np.isfinite(actions)) or np.abs(actions).max() > 1.0 + 1e-6:
            raise MadataError(f"{folder}: actions outside [-1, 1]; madata stores actions in [-1, 1]")
    terminals, truncations = data["terminals"].astype(bool), data["truncations"].astype(bool)
    ends = (terminals | truncations).any(axis=1)
    ends[-1] = True
    end_rows = np.flatnonzero(ends)
    terminations = np.zeros_like(terminals)
    cut = np.zeros_like(truncations)
    terminations[end_rows] = terminals[end_rows].any(axis=1, keepdims=True)
    cut[end_rows] = ~terminations[end_rows]
    states = data["state"].astype(np.float32)
    arrays = {"observations": obs, "actions": actions, "rewards": data["rewards"].astype(np.float32),
              "terminations": terminations, "truncations": cut, "states": states,
              "behavior_ids": np.zeros((steps, spec.n_agents), dtype=np.int16),
              "episode_ends": (end_rows + 1).astype(np.int64),
              # The vault has no next observation after an episode's last step (module docstring).
              "final_observations": obs[end_rows], "final_states": states[end_rows]}
    note = ("imported from an OG-MARL flashbax vault; the vault keeps no observation after an "
            "episode's last step, so final_observations and final_states repeat the last one")
    if spec.discrete:
        arrays |= {"legal_actions": legal, "final_legal_actions": legal[end_rows]}
        note += ("; SMAC (StarCraft II) data: OG-MARL's wrapper marks SMAC's time limit as a terminal and keeps no "
                 "battle-won flag, so time-outs are terminations here and there is no won array; there is no "
                 "StarCraft II here, so this data is for training and offline metrics only (no online evaluation)")
    provenance = {"source": "og-marl", "source_url": SOURCE_URL, "layout": LAYOUT,
                  "original_quality": folder.name, "vault": f"{folder.parent.name}/{folder.name}",
                  "original_files": _tree_digest(folder), "note": note}
    return arrays, provenance


def import_vault(path: Path, store: Store, scenario: str | None, quality: str | None = None,
                 overwrite: bool = False, provenance: dict[str, Any] | None = None,
                 ) -> Iterator[tuple[str, dict[str, Any]]]:
    if scenario is None:
        raise MadataError("madata import og-marl needs --scenario (the madata scenario with the data's shapes)")
    spec = get_spec(scenario)
    folders = vault_folders(path)
    if not folders:
        raise MadataError(f"{path}: no flashbax vault (a folder with metadata.json) found; expected {LAYOUT}")
    if quality in QUALITY_MAP:
        # An OG-MARL quality name picks that vault out of the folder (PATH may be the .vlt folder).
        chosen = [folder for folder in folders if folder.name == quality]
        if not chosen:
            raise MadataError(f"{path}: no {quality} vault; found {', '.join(f.name for f in folders)}")
        folders, quality = chosen, QUALITY_MAP[quality]
    planned = []
    for folder in folders:
        tier = quality or QUALITY_MAP.get(folder.name)
        if tier is None:
            raise MadataError(f"{folder}: unknown OG-MARL quality {folder.name!r} (known: {', '.join(QUALITY_MAP)}); "
                              f"pass --quality")
        planned.append((folder, parse_id(f"imported/og-marl-{scenario}/{tier}-v0")))
    targets = [str(parsed) for _, parsed in planned]
    clash = next((t for t in targets if targets.count(t) > 1), None)
    if clash is not None:        # Poor and Random both map to random: never write one id twice
        raise MadataError(f"{path}: several vaults ({', '.join(f.name for f, p in planned if str(p) == clash)}) "
                          f"would become {clash}; import one with --quality")
    for _, parsed in planned:
        store.check_writable(parsed, overwrite)
    for folder, parsed in planned:
        arrays, source_provenance = convert(folder, scenario)
        card = write_imported(store, parsed, spec, arrays,
                              {"id": f"og-marl-{folder.name.lower()}",
                               "description": f"OG-MARL's {folder.name} behaviour data"},
                              "og-marl", source_provenance | (provenance or {}), overwrite)
        yield str(parsed), card
