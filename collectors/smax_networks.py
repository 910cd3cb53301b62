"""The SMAX learner's networks, shared by the feed-forward actor (collectors/smax_mappo.py), the GRU
actor (collectors/smax_recurrent.py) and the exported actors (collectors/smax_actor.py): tanh MLPs as
lists of {"w", "b"} layers, the allies' one-hot ids, masked logits and the centralized value."""

from __future__ import annotations

from typing import Any

import numpy as np

from madatasets.smax import import_jax


def glorot_mlp(key: Any, sizes: list[int], last_scale: float) -> list[dict[str, Any]]:
    """Glorot-uniform weights (the last layer's times `last_scale`), zero biases."""
    jax = import_jax()
    import jax.numpy as jnp
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        key, sub = jax.random.split(key)
        limit = np.sqrt(6.0 / (n_in + n_out))
        w = jax.random.uniform(sub, (n_in, n_out), jnp.float32, -limit, limit)
        if i == len(sizes) - 2:
            w = w * last_scale
        layers.append({"w": w, "b": jnp.zeros((n_out,), jnp.float32)})
    return layers


def forward(layers: list[dict[str, Any]], x: Any) -> Any:
    import jax.numpy as jnp
    for layer in layers[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]


def one_hot_ids(obs: Any) -> Any:
    """(..., N, O) -> (..., N, N): each ally's one-hot id, the actor's second input."""
    import jax.numpy as jnp
    n = obs.shape[-2]
    return jnp.broadcast_to(jnp.eye(n, dtype=obs.dtype), obs.shape[:-1] + (n,))


def masked_logits(params: dict[str, Any], obs: Any, legal: Any) -> Any:
    """obs (..., N, O), legal (..., N, A) -> logits with illegal actions at -1e9."""
    import jax.numpy as jnp
    logits = forward(params["actor"], jnp.concatenate([obs, one_hot_ids(obs)], axis=-1))
    return jnp.where(legal, logits, -1e9)


def value_of(params: dict[str, Any], state: Any) -> Any:
    return forward(params["critic"], state)[..., 0]
