"""Configuration shared by every algorithm, CLI overrides (`--set key=value`) and seeding."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from madatasets.errors import MadataError

CRITIC_KINDS = ("decentralized", "centralized")


@dataclass
class BaseConfig:
    """Hyperparameters common to the actor-critic baselines (OMAR appendix B.1 values)."""

    gamma: float = 0.99                    # discount
    actor_lr: float = 0.01                 # Adam learning rate of the actors
    critic_lr: float = 0.01                # Adam learning rate of the critics
    batch_size: int = 1024                 # transitions per agent per update
    hidden: tuple[int, ...] = (64, 64)     # hidden layer widths of every network
    soft_update: float = 0.01              # target <- rate * online + (1 - rate) * target
    critic: str = "decentralized"          # "decentralized": Q_i(o_i, a_i); "centralized": Q_i(s, a_1..a_N)
    independent_batches: bool = True       # each agent draws its own minibatch rows
    normalize_observations: bool = False   # standardise observations with dataset statistics
    input_batchnorm: bool = False          # BatchNorm on every network's input (the authors' OMAR code)
    policy_noise: float = 0.2              # TD3 target-policy smoothing noise std
    noise_clip: float = 0.5                # clip of that noise
    policy_delay: int = 2                  # critic updates per actor (and target) update

    def validate(self) -> None:
        """Raise MadataError on values that cannot work."""
        if self.critic not in CRITIC_KINDS:
            raise MadataError(f"critic must be one of {', '.join(CRITIC_KINDS)}, got {self.critic!r}")
        if not 0.0 <= self.gamma <= 1.0:
            raise MadataError(f"gamma must be in [0, 1], got {self.gamma}")
        if not 0.0 < self.soft_update <= 1.0:
            raise MadataError(f"soft_update must be in (0, 1], got {self.soft_update}")
        for name in ("actor_lr", "critic_lr"):
            if getattr(self, name) <= 0:
                raise MadataError(f"{name} must be positive, got {getattr(self, name)}")
        if self.batch_size < 1:
            raise MadataError(f"batch_size must be positive, got {self.batch_size}")
        if not self.hidden or any(width < 1 for width in self.hidden):
            raise MadataError(f"hidden must be positive layer widths like 64,64, got {self.hidden}")
        if self.policy_delay < 1:
            raise MadataError(f"policy_delay must be at least 1, got {self.policy_delay}")
        if self.policy_noise < 0 or self.noise_clip < 0:
            raise MadataError("policy_noise and noise_clip must be non-negative")

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["hidden"] = list(self.hidden)
        return values


ConfigT = TypeVar("ConfigT", bound=Any)


def _convert(name: str, text: str, current: Any) -> Any:
    try:
        if isinstance(current, bool):
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
        if isinstance(current, tuple):
            return tuple(int(part) for part in text.replace(" ", "").split(",") if part)
        return text
    except ValueError:
        kind = "true/false" if isinstance(current, bool) else type(current).__name__
        if isinstance(current, tuple):
            kind = "comma-separated integers like 64,64"
        raise MadataError(f"--set {name}={text}: expected {kind}") from None


def with_values(config: ConfigT, values: dict[str, Any]) -> ConfigT:
    """A copy of `config` with typed `values` replaced; unknown keys are an error."""
    valid = {field.name for field in dataclasses.fields(config)}
    unknown = sorted(set(values) - valid)
    if unknown:
        raise MadataError(f"unknown hyperparameter {unknown[0]!r} for {type(config).__name__}; "
                          f"valid: {', '.join(sorted(valid))}")
    values = {k: tuple(v) if isinstance(getattr(config, k), tuple) else v for k, v in values.items()}
    return dataclasses.replace(config, **values)


def parse_overrides(config: ConfigT, assignments: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Parse ["key=value", ...] into typed values for `config`'s fields."""
    valid = {field.name for field in dataclasses.fields(config)}
    parsed: dict[str, Any] = {}
    for assignment in assignments:
        if "=" not in assignment:
            raise MadataError(f"--set expects key=value, got {assignment!r}")
        key, text = assignment.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in valid:
            raise MadataError(f"unknown hyperparameter {key!r} for {type(config).__name__}; "
                              f"valid: {', '.join(sorted(valid))}")
        parsed[key] = _convert(key, text, getattr(config, key))
    return parsed


def seed_everything(seed: int) -> torch.Generator:
    """Seed the global RNGs (network initialisation) and return the generator used for sampling."""
    if seed < 0:
        raise MadataError(f"seed must be non-negative, got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    generator = torch.Generator()
    # A stream distinct from the initialisation stream, derived from the same seed.
    generator.manual_seed(int(np.random.SeedSequence([seed, 0x5A3]).generate_state(1)[0]))
    return generator
