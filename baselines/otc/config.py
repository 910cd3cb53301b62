"""OTC's settings: the protocol config (Table 3), the sampling variants, and the random streams."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from madatasets.errors import MadataError

BACKBONES = ("bcq", "awac", "mabcq")
DISTANCES = ("embedding", "value")
SAMPLINGS = ("otc", "uniform", "online-only", "balanced")
# Default fine-tuning updates per deployment L (OTC Table 3).
DEFAULT_UPDATES = {"bcq": 4000, "mabcq": 4000, "awac": 2000}
# OTC Table 3: the backbones' values under the `paper` preset, on top of their own paper's
# (AWAC's Table 3 values are awac.py's defaults). The one table of OTC's per-backbone values.
TABLE3: dict[str, dict[str, Any]] = {
    "bcq": {"critic_lr": 1e-4, "perturbation_lr": 1e-4, "batch_size": 128, "hidden": (64, 64)},
    "mabcq": {"critic_lr": 1e-4, "perturbation_lr": 1e-4, "batch_size": 128, "hidden": (64, 64)},
    "awac": {},
}
ONLINE_STREAM, TUNING_STREAM, EMBEDDING_STREAM, BALANCED_STREAM = 0x07C1, 0x07C2, 0x07C3, 0x07C4


@dataclass
class OTCConfig:
    """Settings of the online-tuning protocol (the backbone has its own config)."""

    deployments: int = 10                  # K (Sec 4.1)
    online_steps: int | None = None        # M environment steps per deployment; None: 1% of |B_i^0| (Sec 4.1)
    updates_per_deployment: int | None = None   # L; None: 4000 for bcq/mabcq, 2000 for awac (Table 3)
    alpha: float = 1.0                     # initial alpha (Sec 4.3)
    adaptive_alpha: bool = True            # Eq. 9; False keeps alpha fixed
    offline_batch: int = 512               # |B| (Table 3)
    online_batch: int = 2000               # |D| (Table 3); all of D_i^k when it is smaller
    batch_size: int = 128                  # training batch (Table 3)
    embedding_dim: int = 10                # latent size of the conditional VAE of d_e (Table 3)
    embedding_hidden: tuple[int, ...] = (64, 64)
    embedding_lr: float = 1e-4
    embedding_updates: int = 5000          # minibatches fitting the embedding VAE on B_i^0 before tuning
    alpha_estimate_batches: int = 8        # minibatch pairs averaged into Dbar_i^k (Eq. 9)
    balanced_classifier_updates: int = 500  # density-ratio classifier steps after each deployment
    online_envs: int = 1                   # environments stepped in lockstep during a deployment
    tune_generative: bool = True           # bcq/mabcq: keep fitting G1 (and G2) on the training batches

    def validate(self) -> None:
        for name in ("deployments", "offline_batch", "online_batch", "batch_size", "embedding_dim", "online_envs",
                     "alpha_estimate_batches"):
            if getattr(self, name) < 1:
                raise MadataError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.online_steps is not None and self.online_steps < 1:
            raise MadataError(f"--online-steps must be at least 1, got {self.online_steps}")
        if self.updates_per_deployment is not None and self.updates_per_deployment < 0:
            raise MadataError(f"--updates-per-deployment must be non-negative, got {self.updates_per_deployment}")
        if self.alpha < 0:
            raise MadataError(f"--alpha must be non-negative, got {self.alpha}")
        if self.embedding_updates < 0 or self.balanced_classifier_updates < 0:
            raise MadataError("embedding_updates and balanced_classifier_updates must be non-negative")
        if self.embedding_lr <= 0:
            raise MadataError(f"embedding_lr must be positive, got {self.embedding_lr}")

    def resolved(self, backbone: str, offline_size: int) -> "OTCConfig":
        """A copy with M and L filled in for this backbone and dataset."""
        online = self.online_steps if self.online_steps is not None else max(1, round(0.01 * offline_size))
        updates = self.updates_per_deployment if self.updates_per_deployment is not None else DEFAULT_UPDATES[backbone]
        return OTCConfig(**{**asdict(self), "online_steps": online, "updates_per_deployment": updates})


@dataclass(frozen=True)
class Variant:
    """One sampling strategy; `distance` only for sampling == "otc"."""

    sampling: str
    distance: str | None = None

    def __post_init__(self) -> None:
        if self.sampling not in SAMPLINGS:
            raise MadataError(f"unknown --sampling {self.sampling!r}; valid: {', '.join(SAMPLINGS)}")
        if self.sampling == "otc" and self.distance not in DISTANCES:
            raise MadataError(f"--distance must be one of {', '.join(DISTANCES)}, got {self.distance!r}")

    @property
    def name(self) -> str:
        return self.distance if self.sampling == "otc" else self.sampling


def variants(samplings: Sequence[str], distances: Sequence[str]) -> list[Variant]:
    """Every requested variant: otc once per distance, every other sampling once."""
    result: list[Variant] = []
    for sampling in dict.fromkeys(samplings):
        if sampling == "otc":
            result += [Variant("otc", distance) for distance in dict.fromkeys(distances)]
        else:
            result.append(Variant(sampling))
    if not result:
        raise MadataError(f"no sampling variant requested; valid --sampling: {', '.join(SAMPLINGS)}")
    return result


@contextlib.contextmanager
def seeded_initialisation(seed: int, stream: int) -> Iterator[None]:
    """Initialise networks from their own stream, leaving the global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(np.random.SeedSequence([stream, seed]).generate_state(1)[0]))
        yield


def online_reset_seeds(seed: int) -> Iterator[int]:
    """Reset seeds of the online episodes, in order (the same sequence for every variant of a seed)."""
    episode = 0
    while True:
        yield int(np.random.SeedSequence([ONLINE_STREAM, seed, episode]).generate_state(1)[0] & 0x7FFFFFFF)
        episode += 1


def stream_generator(seed: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([stream, seed]).generate_state(1)[0]))
