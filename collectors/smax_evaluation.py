"""Greedy evaluation of a SMAX actor inside one jitted program (the zoo's periodic and final
evaluations, collectors/smax_zoo.py): K episodes side by side, each its own slot."""

from __future__ import annotations

from typing import Any

from collectors.smax_mappo import actor_logits
from madatasets.smax import SMAX_MAX_STEPS, SmaxCore, import_jax


def greedy_policy_evaluation(core: SmaxCore, episodes: int, seed: int) -> Any:
    """A jitted `evaluate(params) -> (returns (K,), won (K,))`: K episodes, one per slot, the
    greedy (argmax over legal actions) policy, episode k from `fold_in(PRNGKey(seed), k)`; a
    recurrent actor's hidden state starts at zero in every episode."""
    jax = import_jax()
    import jax.numpy as jnp
    base = jax.random.PRNGKey(int(seed))
    keys = jax.vmap(lambda k: jax.random.fold_in(base, k))(jnp.arange(episodes, dtype=jnp.int32))

    def evaluate(params: Any) -> Any:
        from collectors.smax_recurrent import hidden_size, is_recurrent
        env_state, first = jax.vmap(core.reset_fn)(keys)
        hidden = (jnp.zeros((episodes, core.env.num_agents, hidden_size(params)), jnp.float32)
                  if is_recurrent(params) else None)

        def body(carry: Any, t: Any) -> Any:
            env_state, obs, legal, live, total, won, hidden = carry
            logits, hidden = actor_logits(params, obs, legal, hidden)
            action = jnp.argmax(logits, axis=-1).astype(jnp.int32)
            new_state, out = jax.vmap(core.step_fn, in_axes=(0, None, 0, 0))(keys, t, env_state, action)
            total = total + jnp.where(live, out.reward.mean(axis=-1), 0.0)
            won = won | (live & out.won)
            done = out.terminated | out.truncated
            return (new_state, out.obs, out.legal, live & ~done, total, won, hidden), None
        carry = (env_state, first.obs, first.legal, jnp.ones(episodes, bool), jnp.zeros(episodes),
                 jnp.zeros(episodes, bool), hidden)
        (_, _, _, _, total, won, _), _ = jax.lax.scan(body, carry, jnp.arange(SMAX_MAX_STEPS, dtype=jnp.int32))
        return total, won
    return jax.jit(evaluate)
