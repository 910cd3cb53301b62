"""What each stored array means: the attributes the writer puts on every Zarr array,
so that plain zarr, xarray or a reader in another language can interpret the data
without this package (docs/store.md, "Schema")."""

from __future__ import annotations

from typing import Any

# name -> (description, axes, meaning of the dtype)
ARRAYS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "observations": ("each agent's observation before the step, zero-padded to the widest agent",
                     ("step", "agent", "observation"), "float32 values as the environment returned them"),
    "actions": ("each agent's action, zero-padded to the widest agent", ("step", "agent", "action"),
                "float32 in [-1, 1], rescaled to the native action box when stepping"),
    "rewards": ("the reward the environment gave each agent for the step", ("step", "agent"), "float32"),
    "terminations": ("true at the last step of an episode that terminated", ("step", "agent"), "bool"),
    "truncations": ("true at the last step of an episode cut by the episode limit or the step budget",
                    ("step", "agent"), "bool"),
    "states": ("the global state before the step", ("step", "state"), "float32"),
    "behavior_ids": ("index into the card's behavior_policies of the policy that chose each action",
                     ("step", "agent"), "int16 index"),
    "episode_ends": ("exclusive end row of each episode (cumulative episode lengths)", ("episode",),
                     "int64 row index"),
    "final_observations": ("the true observation after each episode's last step (never the next reset)",
                           ("episode", "agent", "observation"), "float32"),
    "final_states": ("the true global state after each episode's last step", ("episode", "state"), "float32"),
}


def array_attributes(name: str, agents: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Attributes of the stored array `name` (may be prefixed, 'agent_0/observations')."""
    prefix, _, base = name.rpartition("/")
    description, axes, meaning = ARRAYS.get(base, ("", (), ""))
    attributes: dict[str, Any] = {"description": description, "axes": list(axes), "dtype_meaning": meaning}
    if "agent" in axes:
        attributes["agents"] = list(agents)
    if prefix:
        attributes["dataset"] = f"{prefix}: agent {prefix.removeprefix('agent_')}'s own dataset"
    return attributes
