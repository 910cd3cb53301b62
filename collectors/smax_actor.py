"""The SMAX zoo's exported actors: a parameter-shared categorical MLP over legal actions.

logits_i = W_k tanh(... tanh(W_1 [o_i, onehot(i)] + b_1) ...) + b_k for each ally i,
illegal actions masked out. Stored as numpy arrays (`.npz`, like the continuous zoo's
`MLPActor`); collection and evaluation run it inside the vectorized JAX rollout
(`madatasets.smax_vector.VectorRollout`) as a `JaxPolicy`:

* `greedy`: the most probable legal action (the expert's reference and evaluations);
* `epsilon`: greedy, except that with probability `epsilon` (0.05 for the tiers) the action
  is uniform over the legal ones, drawn with the step's action key: the tiers' behaviour,
  the discrete counterpart of the continuous tiers' Gaussian action noise;
* `sample`: an action drawn from the masked softmax. Not used by the tiers: early in
  training the softmax is still nearly uniform, and smax-3m's medium policy scored 1.10
  greedily but 0.35 (10% of the span) sampled.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from collectors.actors import load_layers, save_layers
from madatasets.smax import SmaxCore, import_jax
from madatasets.store import array_checksum

ACTING_MODES = ("greedy", "epsilon", "sample")
TIER_EPSILON = 0.05


@dataclass
class SmaxActor:
    weights: list[np.ndarray]   # (in, out) float32; in = observation + number of allies
    biases: list[np.ndarray]

    @staticmethod
    def from_params(params: dict[str, Any]) -> "SmaxActor":
        layers = params["actor"]
        return SmaxActor([np.asarray(layer["w"], np.float32) for layer in layers],
                         [np.asarray(layer["b"], np.float32) for layer in layers])

    def params(self) -> dict[str, Any]:
        """The actor in `collectors.smax_mappo`'s parameter layout."""
        import jax.numpy as jnp
        return {"actor": [{"w": jnp.asarray(w), "b": jnp.asarray(b)} for w, b in zip(self.weights, self.biases)]}

    @property
    def checksum(self) -> str:
        digest = hashlib.sha256(b"smax-categorical")
        for weight, bias in zip(self.weights, self.biases):
            digest.update(array_checksum(weight).encode())
            digest.update(array_checksum(bias).encode())
        return digest.hexdigest()

    def save(self, path: Path) -> None:
        save_layers(path, self.weights, self.biases, kind="smax-categorical")

    @staticmethod
    def load(path: Path) -> "SmaxActor":
        weights, biases, _ = load_layers(path)
        return SmaxActor(weights, biases)

    def jax_policy(self, core: SmaxCore, mode: str = "greedy", epsilon: float = TIER_EPSILON) -> Any:
        """This actor as a `JaxPolicy` of the vectorized rollout (weights are compile-time constants)."""
        return assigned_policy([self], np.zeros(core.env.num_agents, dtype=np.int64), mode, epsilon)


def assigned_policy(actors: list[SmaxActor], assignment: np.ndarray, mode: str = "greedy",
                    epsilon: float = TIER_EPSILON) -> Any:
    """A `JaxPolicy` in which ally i acts with `actors[assignment[i]]` (the mixed tier's
    assignments; one actor for every other tier)."""
    from madatasets.errors import MadataError
    if mode not in ACTING_MODES:
        raise MadataError(f"unknown acting mode {mode!r}; valid: {', '.join(ACTING_MODES)}")
    jax = import_jax()
    import jax.numpy as jnp
    from collectors.smax_mappo import masked_logits
    from madatasets.smax_vector import JaxPolicy
    params = [actor.params() for actor in actors]

    def choose(key: Any, t: Any, logits: Any, legal: Any) -> Any:
        greedy = jnp.argmax(logits, axis=-1).astype(jnp.int32)
        if mode == "greedy":
            return greedy
        action_key = jax.random.fold_in(jax.random.fold_in(key, t + 1), 1)
        if mode == "sample":
            return jax.random.categorical(action_key, logits, axis=-1).astype(jnp.int32)
        explore_key, uniform_key = jax.random.split(action_key)
        uniform = jax.random.categorical(uniform_key, jnp.where(legal, 0.0, -jnp.inf), axis=-1).astype(jnp.int32)
        explore = jax.random.uniform(explore_key, greedy.shape) < epsilon
        return jnp.where(explore, uniform, greedy)

    if len(params) == 1:
        def act(key: Any, t: Any, obs: Any, legal: Any, memory: Any) -> Any:
            return choose(key, t, masked_logits(params[0], obs, legal), legal), memory
        return JaxPolicy(act, lambda: jnp.zeros(()))

    def act_assigned(key: Any, t: Any, obs: Any, legal: Any, memory: Any, roles: Any) -> Any:
        # Every actor on every ally (each ally keeps its one-hot id), then ally i's row from actor roles[i].
        every = jnp.stack([masked_logits(p, obs, legal) for p in params])     # (R, N, A)
        return choose(key, t, every[roles, jnp.arange(roles.shape[0])], legal), memory
    # The assignment is an input of the compiled program, so every assignment shares one program.
    return JaxPolicy(act_assigned, lambda: jnp.zeros(()), jnp.asarray(assignment, dtype=jnp.int32))
