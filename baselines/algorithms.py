"""Registry of the offline MARL baselines: name -> (config dataclass, algorithm class)."""

from __future__ import annotations

import importlib
from types import ModuleType

from madatasets.errors import MadataError

ALGORITHMS = ("bc", "itd3", "matd3_bc", "macql", "maicq", "omar")
# The decentralized offline track (MABCQ paper): each agent trains on its own dataset B_i only.
DECENTRALIZED_ALGORITHMS = ("bcq", "mabcq", "ddpg", "behavior", "awac")
ALL_ALGORITHMS = ALGORITHMS + DECENTRALIZED_ALGORITHMS
# Protocols run by `madata bench` that wrap a decentralized backbone (baselines/otc.py), not algorithms.
PROTOCOLS = ("otc",)
# Algorithms that accept --critic centralized (Table 5 of the OMAR paper, plus MATD3 itself).
CENTRALIZABLE = ("itd3", "matd3_bc", "macql", "maicq", "omar")


def algorithm_module(name: str) -> ModuleType:
    """The module of algorithm `name`; it defines `Config` and `Algorithm`."""
    if name not in ALL_ALGORITHMS:
        raise MadataError(f"unknown algorithm {name!r}; valid: {', '.join(ALL_ALGORITHMS)}")
    return importlib.import_module(f"baselines.{name}")


def is_decentralized(name: str) -> bool:
    """True for the decentralized track (bcq, mabcq, ...): agent i trains on its own dataset B_i."""
    return getattr(algorithm_module(name), "DECENTRALIZED", False)
