"""MAPPO for SMAX, in JAX next to the vectorized environment: the SMAX zoo's learner.

Yu et al., "The Surprising Effectiveness of PPO in Cooperative Multi-Agent Games"
(NeurIPS 2022), Algorithm 1, as JaxMARL runs it on SMAX: one parameter-shared
categorical actor on each ally's observation and one-hot id, its logits masked by the
legal actions (illegal actions get probability 0, in sampling and in the loss); a
centralized value on the global state; GAE; PPO's clipped surrogate. E environments
run T steps per rollout inside one jitted `lax.scan` (episodes that end reset inside
the scan, as `madatasets.smax_vector`), and the update runs its epochs and
minibatches in the same jitted program, so a rollout and its update are two calls.

Episode k of training plays `fold_in(PRNGKey(seed), k)`, the same key derivation as
collection; the action keys come from one carried key. Given the seed, a run is a
pure function of the number of updates: resuming from a saved state continues it bit
for bit (the state is a pytree of arrays, saved between updates).

With `recurrent`, the actor is a GRU (`collectors.smax_recurrent`): its hidden state
(E, N, H) is part of the run, reset with each finished environment, and the update re-runs
the actor along every environment's T steps, in minibatches of whole environments.

SMAX's reward is the team's (identical for every ally), so the value and the
advantages are per environment step and every ally's policy term uses them. A time-
limit truncation bootstraps from the value of the true final state; a termination
does not.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

from collectors.smax_networks import glorot_mlp, masked_logits, value_of
from madatasets.smax import MOVE_ACTIONS, SmaxCore, import_jax


@dataclass(frozen=True)
class SmaxPPOConfig:
    # JaxMARL's MAPPO SMAX settings where they apply to a feed-forward actor: 4 minibatches,
    # gamma 0.99, GAE 0.95, clip 0.2, learning rate annealed to 0; a smaller rollout (64 x 64
    # steps) for a 2-core CPU; 128x128, 8 epochs and entropy 0.02 from the sweep in docs/smax.md
    # (64x64 with 4 epochs plateaued at 75-79% win rate on smax-3m).
    hidden: tuple[int, ...] = (128, 128)
    learning_rate: float = 5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    n_epochs: int = 8
    minibatches: int = 4
    entropy_coef: float = 0.02
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    n_envs: int = 64
    n_steps: int = 64                     # per environment per rollout
    # Linear learning-rate decay to 0 over this many environment steps (0: constant), as JaxMARL's
    # ANNEAL_LR; the run's budget when set by the zoo.
    anneal_steps: int = 0
    # A GRU actor (collectors/smax_recurrent.py), JaxMARL's SMAX MAPPO design: the allies see only
    # their sight range, and the feed-forward actor stayed at 3-5% win rate on smax-5m_vs_6m.
    recurrent: bool = False
    # The GRU's width: JaxMARL's GRU_HIDDEN_DIM on SMAX, and the default layers' width.
    gru_size: int = 128
    # Training-only reward shaping (0: none), added to the team reward the learner sees, never to
    # what is recorded or evaluated. `kill_bonus` per enemy killed, over the enemy count (SMAC's
    # reward_death_value in SMAX's units): it pays for focus fire at once instead of only through
    # the damage the dead enemy no longer deals. `death_penalty` per ally lost, over the ally count
    # (the negative part SMAC's default reward_only_positive leaves out): outnumbered (5m_vs_6m),
    # the allies win only by keeping every unit firing, pulling damaged ones back so the enemy,
    # which shoots the closest unit, spreads its fire.
    kill_bonus: float = 0.0
    death_penalty: float = 0.0

    @property
    def steps_per_update(self) -> int:
        return self.n_envs * self.n_steps

    def to_dict(self) -> dict[str, Any]:
        # A feed-forward config omits the recurrent fields: its records (run folders' settings, zoo
        # entries) stay those written before the GRU existed, so their runs still resume.
        # Likewise the shaping fields at 0, which postdate both.
        values = dataclasses.asdict(self) | {"hidden": list(self.hidden)}
        later = () if self.recurrent else ("recurrent", "gru_size")
        later += tuple(name for name in ("kill_bonus", "death_penalty") if not values[name])
        return {k: v for k, v in values.items() if k not in later}


class Rollout(NamedTuple):
    obs: Any        # (T, E, N, O)
    state: Any      # (T, E, S)
    legal: Any      # (T, E, N, A)
    action: Any     # (T, E, N)
    log_prob: Any   # (T, E, N)
    value: Any      # (T, E)
    reward: Any     # (T, E) the team reward
    done: Any       # (T, E)
    next_value: Any  # (T, E) bootstrap: V(true final state) on truncation, 0 on termination, else V(s_t+1)
    won: Any        # (T, E)


def init_params(key: Any, obs_dim: int, n_agents: int, n_actions: int, state_dim: int,
                hidden: tuple[int, ...], gru_size: int | None = None) -> dict[str, Any]:
    """Orthogonal-free, Glorot-uniform MLPs; the policy head starts near uniform (x0.01). With
    `gru_size`, the actor is `collectors.smax_recurrent`'s GRU actor (the critic the same MLP)."""
    jax = import_jax()
    actor_key, critic_key = jax.random.split(key)
    if gru_size is None:
        actor: Any = glorot_mlp(actor_key, [obs_dim + n_agents, *hidden, n_actions], 0.01)
    else:
        from collectors.smax_recurrent import init_recurrent_actor
        actor = init_recurrent_actor(actor_key, obs_dim + n_agents, n_actions, hidden, gru_size)
    return {"actor": actor, "critic": glorot_mlp(critic_key, [state_dim, *hidden, 1], 1.0)}


def actor_logits(params: dict[str, Any], obs: Any, legal: Any, hidden: Any) -> tuple[Any, Any]:
    """(masked logits, next hidden state) of either actor; the feed-forward one has none (None)."""
    if hidden is None:
        return masked_logits(params, obs, legal), None
    from collectors.smax_recurrent import recurrent_logits
    return recurrent_logits(params, obs, legal, hidden)


class SmaxPPO:
    """Jitted rollout and update for one map and config."""

    def __init__(self, core: SmaxCore, config: SmaxPPOConfig):
        self.core, self.config = core, config
        env = core.env
        self.n_agents = env.num_agents
        self.n_actions = env.num_enemies + MOVE_ACTIONS

    # -- state ------------------------------------------------------------------
    def initial_state(self, seed: int) -> dict[str, Any]:
        """Networks, optimizer, environments and keys of a fresh run (a pytree of arrays)."""
        jax = import_jax()
        import jax.numpy as jnp
        base = jax.random.PRNGKey(int(seed))
        env_state, first = self._fill(base, jnp.arange(self.config.n_envs, dtype=jnp.int32))
        c = self.config
        params = init_params(jax.random.fold_in(base, 0x5EED), first.obs.shape[-1], self.n_agents, self.n_actions,
                             first.state.shape[-1], c.hidden, c.gru_size if c.recurrent else None)
        memory = {"hidden": jnp.zeros((c.n_envs, self.n_agents, c.gru_size), jnp.float32)} if c.recurrent else {}
        return {"params": params, "opt": self._optimizer().init(params), "env_state": env_state,
                "obs": first.obs, "state": first.state, "legal": first.legal,
                "t": jnp.zeros(c.n_envs, jnp.int32), "episode": jnp.arange(c.n_envs, dtype=jnp.int32),
                "counter": jnp.int32(c.n_envs), "base": base,
                "key": jax.random.fold_in(base, 0xAC7), "updates": jnp.int32(0)} | memory

    def _optimizer(self) -> Any:
        import optax
        c = self.config
        learning_rate: Any = c.learning_rate
        if c.anneal_steps:
            updates = max(1, c.anneal_steps // c.steps_per_update) * c.n_epochs * c.minibatches
            learning_rate = optax.linear_schedule(c.learning_rate, 0.0, updates)
        return optax.chain(optax.clip_by_global_norm(c.max_grad_norm), optax.adam(learning_rate, eps=1e-5))

    def _fill(self, base: Any, indices: Any) -> Any:
        jax = import_jax()
        keys = jax.vmap(lambda k: jax.random.fold_in(base, k))(indices)
        return jax.vmap(self.core.reset_fn)(keys)

    # -- one rollout ------------------------------------------------------------
    def _rollout(self, run: dict[str, Any], record: bool = False) -> tuple[dict[str, Any], Any]:
        """T steps of every environment: (run, Rollout), or with `record` (run, (Rollout, the
        executed transitions as `madata.smax_vector.RECORD_FIELDS`, each (T, E, ...)))."""
        jax = import_jax()
        import jax.numpy as jnp
        core, params = self.core, run["params"]

        def where(mask: Any, a: Any, b: Any) -> Any:
            return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

        def body(carry: dict[str, Any], _: Any) -> tuple[dict[str, Any], Rollout]:
            key, sub = jax.random.split(carry["key"])
            logits, hidden = actor_logits(params, carry["obs"], carry["legal"], carry.get("hidden"))  # (E, N, A)
            action = jax.random.categorical(sub, logits, axis=-1).astype(jnp.int32)
            log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[..., None], axis=-1)[..., 0]
            value = value_of(params, carry["state"])
            episode_keys = jax.vmap(lambda k: jax.random.fold_in(carry["base"], k))(carry["episode"])
            env_state, out = jax.vmap(core.step_fn)(episode_keys, carry["t"], carry["env_state"], action)
            done = out.terminated | out.truncated
            index = carry["counter"] + jnp.cumsum(done.astype(jnp.int32)) - 1
            fresh_state, fresh = self._fill(carry["base"], index)
            final_value = jnp.where(out.truncated, value_of(params, out.state), 0.0)
            new = dict(carry, key=key,
                       env_state=jax.tree.map(lambda a, b: where(done, a, b), fresh_state, env_state),
                       obs=where(done, fresh.obs, out.obs), state=where(done, fresh.state, out.state),
                       legal=where(done, fresh.legal, out.legal), t=jnp.where(done, 0, carry["t"] + 1),
                       episode=jnp.where(done, index, carry["episode"]),
                       counter=carry["counter"] + done.sum(dtype=jnp.int32))
            if hidden is not None:   # a finished environment's next episode starts from a zero hidden state
                from collectors.smax_recurrent import reset_where_done     # the reset the update replays
                new["hidden"] = reset_where_done(done, hidden)
            next_value = jnp.where(done, final_value, value_of(params, new["state"]))
            reward = out.reward.mean(axis=-1)
            if self.config.kill_bonus or self.config.death_penalty:
                reward = reward + self.shaping(carry["env_state"], env_state)
            batch = Rollout(carry["obs"], carry["state"], carry["legal"], action, log_prob, value,
                            reward, done, next_value, out.won & done)
            if not record:
                return new, batch
            executed = (carry["episode"], carry["t"], carry["obs"], carry["state"], carry["legal"], action,
                        out.reward, out.terminated, out.truncated, out.won, out.obs, out.state, out.legal)
            return new, (batch, executed)
        return jax.lax.scan(body, run, None, length=self.config.n_steps)

    def shaping(self, before: Any, after: Any) -> Any:
        """The training-only shaping of one step of each environment (E,): the units each team lost
        between two environment states, as fractions of the teams (SMAX's reward units)."""
        env, c = self.core.env, self.config
        died = before.state.unit_alive & ~after.state.unit_alive
        allies = env.num_allies
        kills = died[..., allies:].sum(axis=-1) / env.num_enemies
        deaths = died[..., :allies].sum(axis=-1) / allies
        return c.kill_bonus * kills - c.death_penalty * deaths

    # -- one update -------------------------------------------------------------
    def _update(self, run: dict[str, Any], batch: Rollout,
                start_hidden: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The PPO epochs on a rollout; a recurrent actor's needs the hidden state it started from."""
        jax = import_jax()
        import jax.numpy as jnp
        c = self.config

        def gae(carry: Any, step: Any) -> Any:
            reward, done, value, next_value = step
            delta = reward + c.gamma * next_value - value
            advantage = delta + c.gamma * c.gae_lambda * (1.0 - done) * carry
            return advantage, advantage
        _, advantages = jax.lax.scan(gae, jnp.zeros(c.n_envs), (batch.reward, batch.done.astype(jnp.float32),
                                                                 batch.value, batch.next_value), reverse=True)
        returns = advantages + batch.value
        columns = (batch.obs, batch.state, batch.legal, batch.action, batch.log_prob, advantages, returns)
        if c.recurrent:   # minibatches of whole environments
            from collectors.smax_recurrent import environment_logits, environment_rows
            rows, size = environment_rows(columns, batch.done, start_hidden), c.n_envs
        else:   # minibatches of single transitions
            rows = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), columns)
            size = c.steps_per_update

        def loss_fn(params: Any, mb: Any) -> Any:
            obs, state, legal, action, old_log_prob, advantage, target = mb[:7]
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
            if c.recurrent:   # the actor re-run along each environment's T steps
                logits = environment_logits(params, obs, legal, *mb[7:])
            else:
                logits = masked_logits(params, obs, legal)
            log_probs = jax.nn.log_softmax(logits)
            log_prob = jnp.take_along_axis(log_probs, action[..., None], axis=-1)[..., 0]
            ratio = jnp.exp(log_prob - old_log_prob)
            adv = advantage[..., None]
            policy_loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - c.clip_range, 1 + c.clip_range) * adv).mean()
            probs = jnp.exp(log_probs)
            entropy = -jnp.sum(jnp.where(legal, probs * log_probs, 0.0), axis=-1).mean()
            value_loss = ((value_of(params, state) - target) ** 2).mean()
            total = policy_loss + c.value_coef * value_loss - c.entropy_coef * entropy
            return total, (policy_loss, value_loss, entropy)

        optimizer = self._optimizer()
        per_batch = size // c.minibatches

        def epoch(carry: Any, key: Any) -> Any:
            params, opt = carry
            order = jax.random.permutation(key, size)

            def minibatch(carry: Any, indices: Any) -> Any:
                params, opt = carry
                mb = jax.tree.map(lambda x: x[indices], rows)
                grads, aux = jax.grad(loss_fn, has_aux=True)(params, mb)
                updates, opt = optimizer.update(grads, opt, params)
                import optax
                return (optax.apply_updates(params, updates), opt), aux
            return jax.lax.scan(minibatch, (params, opt), order[: per_batch * c.minibatches].reshape(c.minibatches,
                                                                                                   per_batch))
        key, sub = jax.random.split(run["key"])
        (params, opt), aux = jax.lax.scan(epoch, (run["params"], run["opt"]), jax.random.split(sub, c.n_epochs))
        metrics = {"policy_loss": aux[0].mean(), "value_loss": aux[1].mean(), "entropy": aux[2].mean(),
                   "episodes_won": batch.won.sum(), "episodes_done": batch.done.sum(),
                   "reward_per_step": batch.reward.mean()}
        return dict(run, params=params, opt=opt, key=key, updates=run["updates"] + 1), metrics

    @property
    def step(self) -> Any:
        """run -> (run, metrics): one rollout and its update, jitted once per instance."""
        if not hasattr(self, "_step"):
            jax = import_jax()

            def step(run: dict[str, Any]) -> Any:
                start_hidden = run.get("hidden")
                run, batch = self._rollout(run)
                return self._update(run, batch, start_hidden)
            self._step = jax.jit(step)
        return self._step

    @property
    def recorded_step(self) -> Any:
        """run -> (run, metrics, executed transitions): `step`, the same numbers, plus what it ran
        (medium-replay re-runs the training with it)."""
        if not hasattr(self, "_recorded_step"):
            jax = import_jax()

            def step(run: dict[str, Any]) -> Any:
                start_hidden = run.get("hidden")
                run, (batch, executed) = self._rollout(run, record=True)
                run, metrics = self._update(run, batch, start_hidden)
                return run, metrics, executed
            self._recorded_step = jax.jit(step)
        return self._recorded_step
