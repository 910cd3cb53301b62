"""The recurrent (GRU) actor of the SMAX MAPPO: `SmaxPPOConfig(recurrent=True)`.

JaxMARL's SMAX MAPPO (`baselines/MAPPO/mappo_rnn_smax.py`) gives the actor memory, as the
allies see only what is within their sight range:

    x_i,t = tanh(W_e [o_i,t, onehot(i)] + b_e)
    h_i,t = GRU(x_i,t, h_i,t-1),   h_i,-1 = 0 at the start of every episode
    logits_i,t = head(h_i,t)       (tanh layers of `hidden[1:]`, then linear), illegal actions masked

one network for every ally (parameter-shared), one hidden row per ally. The critic stays the
feed-forward centralized value on the global state: it sees the full state, so memory is
for the actor.

Training carries the hidden state (E, N, H) in the run; when an environment's episode ends
inside the rollout scan, its rows reset to zero as its environment resets. PPO needs the
log-probs of the same histories, so the update keeps the hidden state each rollout started
from and re-runs the actor over the T steps of every environment with `lax.scan`, resetting
after the same dones (PureJaxRL/JaxMARL's recurrent PPO); its minibatches are whole
environments (E / minibatches environments, all T steps each).

The parameter layout is `params["actor"] = {"encoder": [layer], "gru": {wi, bi, wh, bh},
"head": [layer]}` (the feed-forward actor's is a list of layers), so functions given the
parameters know at trace time which actor they hold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from collectors.smax_networks import forward, glorot_mlp, one_hot_ids
from madatasets.smax import import_jax


def is_recurrent(params: dict[str, Any]) -> bool:
    return isinstance(params["actor"], dict)


def hidden_size(params: dict[str, Any]) -> int:
    return int(params["actor"]["gru"]["wh"].shape[0])


def init_recurrent_actor(key: Any, in_dim: int, n_actions: int, hidden: tuple[int, ...],
                         gru_size: int) -> dict[str, Any]:
    """Glorot-uniform dense layers and GRU input weights, orthogonal GRU recurrent weights (per
    gate: it keeps the hidden state's scale over long episodes), zero biases, the policy head x0.01."""
    jax = import_jax()
    import jax.numpy as jnp
    encoder_key, input_key, recurrent_key, head_key = jax.random.split(key, 4)
    width = hidden[0]
    limit = np.sqrt(6.0 / (width + 3 * gru_size))
    orthogonal = jax.nn.initializers.orthogonal()
    gru = {"wi": jax.random.uniform(input_key, (width, 3 * gru_size), jnp.float32, -limit, limit),
           "bi": jnp.zeros((3 * gru_size,), jnp.float32),
           "wh": jnp.concatenate([orthogonal(k, (gru_size, gru_size), jnp.float32)
                                  for k in jax.random.split(recurrent_key, 3)], axis=1),
           "bh": jnp.zeros((3 * gru_size,), jnp.float32)}
    return {"encoder": glorot_mlp(encoder_key, [in_dim, width], 1.0), "gru": gru,
            "head": glorot_mlp(head_key, [gru_size, *hidden[1:], n_actions], 0.01)}


def gru_cell(gru: dict[str, Any], x: Any, h: Any) -> Any:
    """One GRU step (the reset gate applied to the recurrent term, as PyTorch's and cuDNN's)."""
    import jax
    import jax.numpy as jnp
    input_r, input_z, input_n = jnp.split(x @ gru["wi"] + gru["bi"], 3, axis=-1)
    hidden_r, hidden_z, hidden_n = jnp.split(h @ gru["wh"] + gru["bh"], 3, axis=-1)
    reset = jax.nn.sigmoid(input_r + hidden_r)
    update = jax.nn.sigmoid(input_z + hidden_z)
    candidate = jnp.tanh(input_n + reset * hidden_n)
    return (1.0 - update) * candidate + update * h


def recurrent_logits(params: dict[str, Any], obs: Any, legal: Any, hidden: Any) -> tuple[Any, Any]:
    """obs (..., N, O), legal (..., N, A), hidden (..., N, H) -> (logits with illegal actions at
    -1e9, the next hidden state): one step of the actor."""
    import jax.numpy as jnp
    actor = params["actor"]
    x = jnp.concatenate([obs, one_hot_ids(obs)], axis=-1)
    for layer in actor["encoder"]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    hidden = gru_cell(actor["gru"], x, hidden)
    return jnp.where(legal, forward(actor["head"], hidden), -1e9), hidden


def reset_where_done(done: Any, hidden: Any) -> Any:
    """Zero the hidden rows (B, N, H) of the environments whose episode ended (B,)."""
    import jax.numpy as jnp
    return jnp.where(done[:, None, None], 0.0, hidden)


def sequence_logits(params: dict[str, Any], obs: Any, legal: Any, done: Any, start_hidden: Any) -> Any:
    """The actor re-run along recorded histories: obs (T, B, N, O), legal (T, B, N, A), done (T, B),
    start_hidden (B, N, H) -> logits (T, B, N, A), the hidden state reset after each done as the
    rollout reset it."""
    jax = import_jax()

    def body(hidden: Any, step: Any) -> tuple[Any, Any]:
        obs, legal, done = step
        logits, hidden = recurrent_logits(params, obs, legal, hidden)
        return reset_where_done(done, hidden), logits
    return jax.lax.scan(body, start_hidden, (obs, legal, done))[1]


def environment_rows(columns: tuple[Any, ...], done: Any, start_hidden: Any) -> tuple[Any, ...]:
    """The update's rows for minibatches of whole environments: each (T, E, ...) column as
    (E, T, ...), then the dones (E, T) and the hidden states (E, N, H) the rollout started from."""
    import jax
    import jax.numpy as jnp
    return (*jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), (*columns, done)), start_hidden)


def environment_logits(params: dict[str, Any], obs: Any, legal: Any, done: Any, start_hidden: Any) -> Any:
    """`sequence_logits` on environment-major rows: obs (B, T, N, O), ... -> logits (B, T, N, A)."""
    import jax.numpy as jnp
    logits = sequence_logits(params, *(jnp.swapaxes(x, 0, 1) for x in (obs, legal, done)), start_hidden)
    return jnp.swapaxes(logits, 0, 1)
