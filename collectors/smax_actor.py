"""The SMAX zoo's exported actors: a parameter-shared categorical MLP over legal actions.

logits_i = W_k tanh(... tanh(W_1 [o_i, onehot(i)] + b_1) ...) + b_k for each ally i,
illegal actions masked out; or its recurrent form (`SmaxPPOConfig(recurrent=True)`,
`collectors.smax_recurrent`): the layers before `gru_layer`, the GRU's input and recurrent
weights (layers `gru_layer` and `gru_layer + 1`), then the head, with a hidden state per
ally that starts at zero in every episode. Stored as numpy arrays (`.npz`, like the
continuous zoo's `MLPActor`, kind "smax-categorical" or "smax-gru"); collection and
evaluation run it inside the vectorized JAX rollout
(`madatasets.smax_vector.VectorRollout`) as a `JaxPolicy`, a recurrent actor's hidden
state (N, H) being the policy's memory:

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
    # A recurrent actor's GRU: layers gru_layer (input weights, (F, 3H)) and gru_layer + 1
    # (recurrent weights, (H, 3H)), gates in the order reset, update, candidate. None: feed-forward.
    gru_layer: int | None = None

    @property
    def recurrent(self) -> bool:
        return self.gru_layer is not None

    @property
    def hidden_size(self) -> int:
        """The GRU's width H (a recurrent actor's)."""
        if self.gru_layer is None:
            raise ValueError("a feed-forward SMAX actor has no hidden state")
        return int(self.weights[self.gru_layer + 1].shape[0])

    @staticmethod
    def from_params(params: dict[str, Any]) -> "SmaxActor":
        actor = params["actor"]
        gru_layer = None
        if isinstance(actor, dict):   # collectors.smax_recurrent's layout
            gru = actor["gru"]
            actor, gru_layer = [*actor["encoder"], {"w": gru["wi"], "b": gru["bi"]}, {"w": gru["wh"], "b": gru["bh"]},
                                *actor["head"]], len(actor["encoder"])
        return SmaxActor([np.asarray(layer["w"], np.float32) for layer in actor],
                         [np.asarray(layer["b"], np.float32) for layer in actor], gru_layer)

    def params(self) -> dict[str, Any]:
        """The actor in `collectors.smax_mappo`'s (or `collectors.smax_recurrent`'s) parameter layout."""
        import jax.numpy as jnp
        layers = [{"w": jnp.asarray(w), "b": jnp.asarray(b)} for w, b in zip(self.weights, self.biases)]
        if self.gru_layer is None:
            return {"actor": layers}
        k = self.gru_layer
        gru = {"wi": layers[k]["w"], "bi": layers[k]["b"], "wh": layers[k + 1]["w"], "bh": layers[k + 1]["b"]}
        return {"actor": {"encoder": layers[:k], "gru": gru, "head": layers[k + 2:]}}

    @property
    def checksum(self) -> str:
        if self.gru_layer is None:
            digest = hashlib.sha256(b"smax-categorical")
        else:
            digest = hashlib.sha256(f"smax-gru:{self.gru_layer}".encode())
        for weight, bias in zip(self.weights, self.biases):
            digest.update(array_checksum(weight).encode())
            digest.update(array_checksum(bias).encode())
        return digest.hexdigest()

    def save(self, path: Path) -> None:
        if self.gru_layer is None:
            save_layers(path, self.weights, self.biases, kind="smax-categorical")
        else:
            save_layers(path, self.weights, self.biases, kind="smax-gru", gru_layer=str(self.gru_layer))

    @staticmethod
    def load(path: Path) -> "SmaxActor":
        """Either kind, as the file says."""
        weights, biases, extra = load_layers(path)
        return SmaxActor(weights, biases, int(extra["gru_layer"]) if extra.get("kind") == "smax-gru" else None)

    def jax_policy(self, core: SmaxCore, mode: str = "greedy", epsilon: float = TIER_EPSILON) -> Any:
        """This actor as a `JaxPolicy` of the vectorized rollout (weights are compile-time constants)."""
        return assigned_policy([self], np.zeros(core.env.num_agents, dtype=np.int64), mode, epsilon)


def assigned_policy(actors: list[SmaxActor], assignment: np.ndarray, mode: str = "greedy",
                    epsilon: float = TIER_EPSILON) -> Any:
    """A `JaxPolicy` in which ally i acts with `actors[assignment[i]]` (the mixed tier's
    assignments; one actor for every other tier). With recurrent actors the memory is each
    one's hidden state of every ally (a tuple with several actors): every actor advances on
    every ally's observations, so ally i's row of its own actor follows ally i's history."""
    from madatasets.errors import MadataError
    if mode not in ACTING_MODES:
        raise MadataError(f"unknown acting mode {mode!r}; valid: {', '.join(ACTING_MODES)}")
    jax = import_jax()
    import jax.numpy as jnp
    from collectors.smax_networks import masked_logits
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

    n = len(assignment)

    def initial_of(actor: SmaxActor) -> Any:
        # A recurrent actor's memory is its hidden state (N, H), zero at an episode's start; a
        # feed-forward one keeps an empty placeholder.
        return jnp.zeros((n, actor.hidden_size), jnp.float32) if actor.recurrent else jnp.zeros(())

    def step(k: int, obs: Any, legal: Any, memory: Any) -> tuple[Any, Any]:
        if not actors[k].recurrent:
            return masked_logits(params[k], obs, legal), memory
        from collectors.smax_recurrent import recurrent_logits
        return recurrent_logits(params[k], obs, legal, memory)

    if len(actors) == 1:
        def act(key: Any, t: Any, obs: Any, legal: Any, memory: Any) -> Any:
            logits, memory = step(0, obs, legal, memory)
            return choose(key, t, logits, legal), memory
        return JaxPolicy(act, lambda: initial_of(actors[0]))

    def act_assigned(key: Any, t: Any, obs: Any, legal: Any, memory: Any, roles: Any) -> Any:
        # Every actor on every ally (each ally keeps its one-hot id and, for a recurrent actor, its
        # own hidden row), then ally i's logits from actor roles[i].
        stepped = [step(k, obs, legal, memory[k]) for k in range(len(actors))]
        every = jnp.stack([logits for logits, _ in stepped])                    # (R, N, A)
        action = choose(key, t, every[roles, jnp.arange(roles.shape[0])], legal)
        return action, tuple(hidden for _, hidden in stepped)
    # The assignment is an input of the compiled program, so every assignment shares one program.
    return JaxPolicy(act_assigned, lambda: tuple(initial_of(actor) for actor in actors),
                     jnp.asarray(assignment, dtype=jnp.int32))
