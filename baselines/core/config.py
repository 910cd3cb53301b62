"""The config base of every algorithm, typed `--set key=value` overrides, and seeding."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from madatasets.errors import MadataError
from madatasets.store import DatasetId, parse_id

@dataclass
class AlgorithmConfig:
    """What every algorithm's config has, validated once here; subclasses add their fields and checks.

    Conventions every subclass follows (checked here, so no subclass repeats them):
    a field named `*_lr` is a learning rate and must be positive; `soft_update` is a
    target-network rate in (0, 1].
    """

    gamma: float = 0.99                    # discount
    batch_size: int = 1024                 # transitions per agent per update
    hidden: tuple[int, ...] = (64, 64)     # hidden layer widths of every network

    def validate(self) -> None:
        """Raise MadataError on values that cannot work (subclasses extend it and call super())."""
        # gamma 0 would divide by zero in MABCQ's E[V*(s')] = (Q - r) / gamma; no algorithm needs it.
        if not 0.0 < self.gamma <= 1.0:
            raise MadataError(f"gamma must be in (0, 1], got {self.gamma}")
        if self.batch_size < 1:
            raise MadataError(f"batch_size must be positive, got {self.batch_size}")
        if not self.hidden or any(width < 1 for width in self.hidden):
            raise MadataError(f"hidden must be positive layer widths like 64,64, got {self.hidden}")
        for name in sorted(f.name for f in dataclasses.fields(self)):
            value = getattr(self, name)
            if name.endswith("_lr") and value <= 0:
                raise MadataError(f"{name} must be positive, got {value}")
            if name == "soft_update" and not 0.0 < value <= 1.0:
                raise MadataError(f"soft_update must be in (0, 1], got {value}")

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        for name, value in values.items():
            if isinstance(value, tuple):
                values[name] = list(value)
        return values

    @classmethod
    def preset_values(cls, preset: str, dataset_id: str) -> tuple[dict[str, Any], list[str]]:
        """Values of a named preset for one dataset, and notes; `defaults` is the dataclass defaults."""
        if preset == "defaults":
            return {}, []
        return cls.table_values(preset, parse_id(dataset_id))

    @classmethod
    def table_values(cls, preset: str, dataset: DatasetId) -> tuple[dict[str, Any], list[str]]:
        """The paper's per-dataset values (`paper`, `released-code`): an algorithm with a table overrides
        this next to its config, starting from super()'s values. The base has none."""
        return {}, []


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
    fields = {field.name: field for field in dataclasses.fields(config)}
    valid = set(fields)
    parsed: dict[str, Any] = {}
    for assignment in assignments:
        if "=" not in assignment:
            raise MadataError(f"--set expects key=value, got {assignment!r}")
        key, text = assignment.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in valid:
            raise MadataError(f"unknown hyperparameter {key!r} for {type(config).__name__}; "
                              f"valid: {', '.join(sorted(valid))}")
        current = getattr(config, key)
        if current is None:              # an optional field left unset ("int | None"): its type names the kind
            if text.strip().lower() in ("none", "null", "default"):
                parsed[key] = None
                continue
            kind = str(fields[key].type)
            current = 0 if "int" in kind else 0.0 if "float" in kind else ""
        parsed[key] = _convert(key, text, current)
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
