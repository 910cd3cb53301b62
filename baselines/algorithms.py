"""The registry: algorithm name -> its module (which defines `Config` and `Algorithm`).

Adding an algorithm is one file `baselines/<name>.py` and one line in REGISTRY
(docs/architecture.md). Which track an algorithm belongs to is declared by its
class (`Algorithm.setting`, baselines/core/contract.py), not here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from madatasets.errors import MadataError


@dataclass(frozen=True)
class Entry:
    module: str
    centralizable: bool = False     # accepts --critic centralized (OMAR Table 5, plus MATD3 itself)


REGISTRY: dict[str, Entry] = {
    "bc": Entry("baselines.bc"),
    "itd3": Entry("baselines.itd3", centralizable=True),
    "matd3_bc": Entry("baselines.matd3_bc", centralizable=True),
    "macql": Entry("baselines.macql", centralizable=True),
    "maicq": Entry("baselines.maicq", centralizable=True),
    "omar": Entry("baselines.omar", centralizable=True),
    "bcq": Entry("baselines.bcq"),
    "mabcq": Entry("baselines.mabcq"),
    "ddpg": Entry("baselines.ddpg"),
    "behavior": Entry("baselines.behavior"),
    "awac": Entry("baselines.awac"),
    # Discrete actions with legal-action masks (SMAX; setting "discrete").
    "bc_discrete": Entry("baselines.bc_discrete"),
    "iql_cql": Entry("baselines.iql_cql"),
    "qmix_cql": Entry("baselines.qmix_cql"),
    "bcq_discrete": Entry("baselines.bcq_discrete"),
    "maicq_discrete": Entry("baselines.maicq_discrete"),
    "omar_discrete": Entry("baselines.omar_discrete"),
    "mabcq_discrete": Entry("baselines.mabcq_discrete"),
}
# Protocols run by `madata bench` that wrap a per-agent backbone (baselines/otc/), not algorithms.
PROTOCOLS = ("otc",)


def algorithm_module(name: str) -> ModuleType:
    """The module of algorithm `name`; it defines `Config` and `Algorithm`."""
    if name not in REGISTRY:
        raise MadataError(f"unknown algorithm {name!r}; valid: {', '.join(REGISTRY)}")
    return importlib.import_module(REGISTRY[name].module)


def setting(name: str) -> str:
    """The data setting algorithm `name` declares: "joint" or "per-agent"."""
    return algorithm_module(name).Algorithm.setting


ALL_ALGORITHMS = tuple(REGISTRY)
ALGORITHMS = tuple(name for name in REGISTRY if setting(name) == "joint")
# The decentralized offline track (MABCQ paper): each agent trains on its own dataset B_i only.
DECENTRALIZED_ALGORITHMS = tuple(name for name in REGISTRY if setting(name) == "per-agent")
CENTRALIZABLE = tuple(name for name, entry in REGISTRY.items() if entry.centralizable)
# The discrete track (SMAX): integer actions, legal-action masks, win rates.
DISCRETE_ALGORITHMS = tuple(name for name in REGISTRY if setting(name) == "discrete")
# Those with sequence losses, which accept `--set recurrent=true` (GRU agents, baselines/core/recurrent.py).
RECURRENT_ALGORITHMS = tuple(name for name in DISCRETE_ALGORITHMS if algorithm_module(name).Config.sequence_losses)
