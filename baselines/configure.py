"""An algorithm's config for one dataset: defaults, then a named preset, then --critic, then --set overrides."""

from __future__ import annotations

from typing import Any

from baselines.algorithms import CENTRALIZABLE, algorithm_module
from baselines.core.actor_critic import CRITIC_KINDS
from baselines.core.config import AlgorithmConfig, parse_overrides, with_values
from baselines.presets import preset_values
from madatasets.errors import MadataError


def build_config(algorithm: str, dataset_id: str, preset: str = "paper", critic: str = "decentralized",
                 overrides: tuple[str, ...] | list[str] = (),
                 values: dict[str, Any] | None = None) -> tuple[AlgorithmConfig, list[str]]:
    """Config of `algorithm` for `dataset_id`; `values` are typed values applied after the preset
    (a protocol's table, e.g. OTC's Table 3), `overrides` the user's key=value strings last."""
    module = algorithm_module(algorithm)
    if critic not in CRITIC_KINDS:
        raise MadataError(f"--critic must be one of {', '.join(CRITIC_KINDS)}, got {critic!r}")
    if critic == "centralized" and algorithm not in CENTRALIZABLE:
        raise MadataError(f"{algorithm} has no centralized-critic variant; those are: {', '.join(CENTRALIZABLE)}")
    config = module.Config()
    preset_vals, notes = preset_values(preset, module.Config, dataset_id)
    config = with_values(config, preset_vals)
    if critic == "centralized":
        config = with_values(config, {"critic": critic})
    config = with_values(config, values or {})
    config = with_values(config, parse_overrides(config, list(overrides)))
    config.validate()
    return config, notes


def run_label(algorithm: str, critic: str, preset: str, overrides: tuple[str, ...] | list[str]) -> str:
    """Name of a configuration in reports, e.g. omar, omar[centralized], omar[released-code,sampler=cem]."""
    parts = (["centralized"] if critic == "centralized" else []) + ([preset] if preset != "paper" else []) + \
        sorted(overrides)
    return algorithm + (f"[{','.join(parts)}]" if parts else "")
