"""The zoo's exported actors: a small numpy MLP from the global state to the joint action,
how agents act it (`ActorPolicy`), and how it is evaluated.

Collection needs neither torch nor stable-baselines3: a policy is evaluated for all
agents in one batched numpy call."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from collectors.rollout import rollout
from madatasets.scenarios import ScenarioSpec, episode_return, get_spec
from madatasets.store import array_checksum

# Seeds of evaluation episodes; the final 100-episode evaluation uses the same seed
# as the random reference scores so that both references see the same starts.
PERIODIC_EVAL_SEED = 2_000_003
FINAL_EVAL_SEED = 1_000_003
# Episodes that re-evaluate the best periodic checkpoints to choose the expert (neither of the above).
SELECTION_EVAL_SEED = 3_000_017


def portable_product(inputs: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """`inputs @ weight` (float32) with the same bytes on every CPU.

    `@` runs the BLAS kernel OpenBLAS picks for the CPU at hand, and numpy's einsum loop is
    dispatched per instruction set too; their summation orders and fused multiply-adds differ
    between CPU generations, so a zoo actor acted differently on another machine and the
    datasets it collected had other checksums than the suites pin. Here every product and every
    sum is one elementwise IEEE operation in a fixed order (a pairwise tree over the inputs),
    which any vector width computes to the same bits: a few elementwise calls per layer.
    """
    terms = inputs[..., :, None] * weight                 # (..., K, H): each product rounded once
    while terms.shape[-2] > 1:
        half = terms.shape[-2] // 2
        paired = terms[..., :half, :] + terms[..., half:2 * half, :]
        terms = np.concatenate([paired, terms[..., 2 * half:, :]], axis=-2) if terms.shape[-2] % 2 else paired
    return terms[..., 0, :]


@dataclass
class MLPActor:
    """out(W_k relu(... relu(W_1 x + b_1) ...) + b_k): joint input -> joint action in [-1, 1].

    `out` is tanh for TD3/SAC actors and a clip to [-1, 1] for PPO, whose deterministic
    action is its Gaussian mean clipped to the action box.
    """

    weights: list[np.ndarray]   # (in, out) float32
    biases: list[np.ndarray]    # (out,) float32
    output: str = "tanh"        # "tanh" or "clip"

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        return self.act(inputs)

    def act(self, inputs: np.ndarray, product: Callable[[np.ndarray, np.ndarray], np.ndarray] = portable_product
            ) -> np.ndarray:
        """The joint action; `product` is the layers' matrix product (benchmarks/actor_speed.py times
        np.matmul against the portable one)."""
        hidden = np.asarray(inputs, dtype=np.float32)
        for weight, bias in zip(self.weights[:-1], self.biases[:-1]):
            hidden = np.maximum(product(hidden, weight) + bias, 0.0)
        last = product(hidden, self.weights[-1]) + self.biases[-1]
        return np.clip(last, -1.0, 1.0) if self.output == "clip" else np.tanh(last)

    @property
    def input_size(self) -> int:
        return int(self.weights[0].shape[0])

    @property
    def output_size(self) -> int:
        return int(self.weights[-1].shape[1])

    @property
    def checksum(self) -> str:
        """sha256 over the layers' dtype, shape and bytes, in order (file timestamps do not enter)."""
        digest = hashlib.sha256()
        for weight, bias in zip(self.weights, self.biases):
            digest.update(array_checksum(weight).encode())
            digest.update(array_checksum(bias).encode())
        if self.output != "tanh":   # tanh actors keep the checksums they were published with
            digest.update(self.output.encode())
        return digest.hexdigest()

    def save(self, path: Path) -> None:
        save_layers(path, self.weights, self.biases, **({"output": self.output} if self.output != "tanh" else {}))

    @staticmethod
    def load(path: Path) -> "MLPActor":
        weights, biases, extra = load_layers(path)
        return MLPActor(weights, biases, extra.get("output", "tanh"))


def save_layers(path: Path, weights: list[np.ndarray], biases: list[np.ndarray], **extra: str) -> None:
    """An exported actor's file: layers `w0, b0, w1, ...` and string fields, compressed `.npz`."""
    arrays = {name: np.array(value) for name, value in extra.items()}
    for k, (weight, bias) in enumerate(zip(weights, biases)):
        arrays[f"w{k}"], arrays[f"b{k}"] = weight, bias
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        # Compressed: block-diagonal actors (parameter-shared agents) are mostly zeros.
        np.savez_compressed(handle, **arrays)


def load_layers(path: Path) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, str]]:
    with np.load(path) as data:
        layers = sum(name.startswith("w") and name[1:].isdigit() for name in data.files)
        extra = {name: str(data[name]) for name in data.files if not (name[0] in "wb" and name[1:].isdigit())}
        return [data[f"w{k}"] for k in range(layers)], [data[f"b{k}"] for k in range(layers)], extra


def export_actor(model: Any, algorithm: str) -> MLPActor:
    """Copy the deterministic actor of an SB3 SAC/TD3/PPO model into an `MLPActor`."""
    import torch.nn as nn
    if algorithm == "ppo":
        policy = model.policy
        linears = [m for m in policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)] + [policy.action_net]
        return MLPActor([m.weight.detach().cpu().numpy().T.astype(np.float32).copy() for m in linears],
                        [m.bias.detach().cpu().numpy().astype(np.float32).copy() for m in linears], "clip")
    actor = model.policy.actor
    if algorithm == "sac":
        linears = [m for m in actor.latent_pi if isinstance(m, nn.Linear)] + [actor.mu]
    else:
        linears = [m for m in actor.mu if isinstance(m, nn.Linear)]
    return MLPActor([m.weight.detach().cpu().numpy().T.astype(np.float32).copy() for m in linears],
                    [m.bias.detach().cpu().numpy().astype(np.float32).copy() for m in linears])


@functools.lru_cache(maxsize=None)
def action_layout(spec: ScenarioSpec) -> tuple[np.ndarray, np.ndarray]:
    """The (N, A) real-action mask and the flat indices of the real action dimensions,
    computed once per scenario (read-only): rollouts need them on every step."""
    mask = spec.act_mask
    columns = np.flatnonzero(mask.ravel())
    mask.flags.writeable = columns.flags.writeable = False
    return mask, columns


def joint_to_padded(spec: ScenarioSpec, joint: np.ndarray) -> np.ndarray:
    """(..., sum(act_sizes)) joint actions -> (..., N, A) padded per-agent actions."""
    joint = np.asarray(joint, dtype=np.float32)
    padded = np.zeros(joint.shape[:-1] + (spec.n_agents * spec.act_dim,), dtype=np.float32)
    padded[..., action_layout(spec)[1]] = joint
    return padded.reshape(joint.shape[:-1] + (spec.n_agents, spec.act_dim))


@dataclass
class ActorPolicy:
    """Rolls out one joint actor for every agent, with optional Gaussian action noise.

    Noise N(0, sigma^2) is added to each real action dimension and the result clipped
    to [-1, 1]; it is drawn from the per-episode generator the rollout passes in, so
    data do not depend on the worker count.
    """

    scenario: str
    actor: MLPActor
    sigma: float = 0.0
    policy_id: str = "actor"
    description: str = ""

    @property
    def spec(self) -> ScenarioSpec:
        # Held by name: specs carry their simulator builder, which workers cannot unpickle.
        return get_spec(self.scenario)

    def describe(self) -> list[dict[str, Any]]:
        return [{"id": self.policy_id, "checksum": self.actor.checksum, "description": self.description,
                 "action_noise_sigma": self.sigma}]

    def start_episode(self, episode_index: int, rng: np.random.Generator) -> None:
        pass

    def act(self, observations: np.ndarray, state: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        spec = self.spec
        actions = joint_to_padded(spec, self.actor(state[None])[0])
        if self.sigma > 0:
            actions = np.clip(actions + self.sigma * rng.standard_normal(actions.shape, dtype=np.float32),
                              -1.0, 1.0) * action_layout(spec)[0]
        return actions.astype(np.float32), np.zeros(spec.n_agents, dtype=np.int16)


def evaluate_actor(scenario: str, actor: MLPActor, episodes: int, seed: int, workers: int = 1,
                   progress: bool = False, description: str = "evaluate") -> np.ndarray:
    """Returns of `episodes` whole episodes of the deterministic actor (no noise)."""
    policy = ActorPolicy(scenario, actor)
    rolled = rollout(scenario, policy, None, seed, workers, progress, description=description,
                     episodes_wanted=episodes)
    return np.array([episode_return(e["rewards"]) for e in rolled])


@dataclass
class Checkpoint:
    step: int
    actor: MLPActor
    eval_mean: float | None = None
    eval_std: float | None = None
    before_updates: bool = False   # the snapshot taken at the end of warm-up, before any update
    selection_mean: float | None = None   # mean over the expert-selection episodes, if re-evaluated
    medium_check_mean: float | None = None   # mean over the medium-check episodes, if checked
