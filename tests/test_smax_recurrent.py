"""The SMAX MAPPO's recurrent (GRU) actor: training with finite losses, PPO's log-probs
recomputed along the rollout's histories, resume, medium-replay's re-run, the exported
actor collected through the vectorized rollout, and the feed-forward learner unchanged.

One tiny configuration (4 environments x 8 steps, 16-unit layers and GRU) on smax-3m; the
programs it compiles are shared through JAX's on-disk cache.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jaxmarl")

from madatasets.smax import SMAX_MAPS, core, single_thread_flags  # noqa: E402

single_thread_flags()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from collectors.smax_actor import SmaxActor, assigned_policy  # noqa: E402
from collectors.smax_mappo import SmaxPPO, SmaxPPOConfig  # noqa: E402
from collectors.smax_recurrent import (environment_logits, environment_rows, recurrent_logits,  # noqa: E402
                                      sequence_logits)
from collectors.smax_zoo import train_smax  # noqa: E402

FEED_FORWARD = dict(n_envs=4, n_steps=8, hidden=(16, 16), n_epochs=2, minibatches=2)
RECURRENT = FEED_FORWARD | dict(recurrent=True, gru_size=16)
PER_UPDATE = 32
SCHEDULE = dict(eval_every=64, eval_episodes=4, dense_until=0)


@pytest.fixture(scope="module")
def smax():
    return core(SMAX_MAPS["smax-3m"][0])


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """A recurrent run of 4 updates straight through, snapshots at 0, 64 and 128 steps."""
    return train_smax("smax-3m", PER_UPDATE * 4, 1, SmaxPPOConfig(**RECURRENT),
                      tmp_path_factory.mktemp("straight"), **SCHEDULE)


def test_recurrent_training_updates_with_finite_losses(smax):
    ppo = SmaxPPO(smax, SmaxPPOConfig(**RECURRENT))
    run = ppo.initial_state(1)
    assert run["hidden"].shape == (4, 3, 16) and not np.asarray(run["hidden"]).any()
    first = SmaxActor.from_params(jax.device_get(run["params"]))
    for _ in range(3):
        run, metrics = ppo.step(run)
        assert all(np.isfinite(float(value)) for value in metrics.values()), metrics
    assert np.asarray(run["hidden"]).any()   # the memory moved
    assert SmaxActor.from_params(jax.device_get(run["params"])).checksum != first.checksum


def test_first_epoch_log_probs_recomputed_along_the_histories_equal_the_rollouts(smax):
    ppo = SmaxPPO(smax, SmaxPPOConfig(**RECURRENT))

    @jax.jit
    def rollout_and_recompute(run):
        start = run["hidden"]
        after, batch = ppo._rollout(run)

        def log_prob(logits):
            return jnp.take_along_axis(jax.nn.log_softmax(logits), batch.action[..., None], axis=-1)[..., 0]
        recomputed = log_prob(sequence_logits(run["params"], batch.obs, batch.legal, batch.done, start))
        # One minibatch as the update forms it: whole environments 3 and 1, all T steps.
        columns = (batch.obs, batch.state, batch.legal, batch.action, batch.log_prob)
        mb = jax.tree.map(lambda x: x[jnp.array([3, 1])], environment_rows(columns, batch.done, start))
        minibatch = jnp.take_along_axis(jax.nn.log_softmax(environment_logits(run["params"], mb[0], mb[2], *mb[5:])),
                                        mb[3][..., None], axis=-1)[..., 0]
        never_reset = log_prob(sequence_logits(run["params"], batch.obs, batch.legal, jnp.zeros_like(batch.done),
                                               start))
        return after, batch, recomputed, minibatch, mb[4], never_reset

    run = ppo.initial_state(2)
    resets_seen = 0
    for _ in range(15):   # 120 steps: every episode of smax-3m ends within 100
        run, batch, recomputed, minibatch, minibatch_rollout, never_reset = rollout_and_recompute(run)
        np.testing.assert_allclose(recomputed, batch.log_prob, rtol=0, atol=1e-5)
        np.testing.assert_allclose(minibatch, minibatch_rollout, rtol=0, atol=1e-5)
        done = np.asarray(batch.done)
        for t, e in zip(*np.nonzero(done[:-1])):
            resets_seen += 1
            # The reset matters: without it the next step's log-probs differ.
            assert np.abs(np.asarray(never_reset)[t + 1:, e] - np.asarray(batch.log_prob)[t + 1:, e]).max() > 1e-6
        # Finished environments start their next episode from a zero hidden state.
        assert not np.asarray(run["hidden"])[np.asarray(run["t"]) == 0].any()
    assert resets_seen > 0


def test_a_stopped_and_resumed_recurrent_run_equals_one_run_straight_through(straight, tmp_path):
    config = SmaxPPOConfig(**RECURRENT)
    train_smax("smax-3m", PER_UPDATE * 4, 1, config, tmp_path, stop_at=PER_UPDATE * 3, **SCHEDULE)
    resumed = train_smax("smax-3m", PER_UPDATE * 4, 1, config, tmp_path, resume=True, **SCHEDULE)
    assert [s["step"] for s in straight["snapshots"]] == [s["step"] for s in resumed["snapshots"]] == [0, 64, 128]
    assert all(s["actor"].recurrent for s in straight["snapshots"])
    assert [s["actor"].checksum for s in straight["snapshots"]] == [s["actor"].checksum for s in resumed["snapshots"]]
    assert [(s["eval_mean"], s["win_rate"]) for s in straight["snapshots"]] == \
        [(s["eval_mean"], s["win_rate"]) for s in resumed["snapshots"]]
    assert jax.tree.all(jax.tree.map(np.array_equal, straight["state"], resumed["state"]))


def test_medium_replay_re_runs_a_recurrent_run_to_its_snapshot(straight):
    from collectors.smax_medium_replay import learner_config, rerun
    config = learner_config({"config": SmaxPPOConfig(**RECURRENT).to_dict()})
    assert config == SmaxPPOConfig(**RECURRENT)
    episodes, _, actor_sha256 = rerun("smax-3m", config, 1, 64)
    assert actor_sha256 == straight["snapshots"][1]["actor"].checksum
    assert sum(len(e["actions"]) for e in episodes) == 64


def test_an_exported_recurrent_actor_acts_legally_with_memory(straight, smax, tmp_path):
    from collectors.zoo_index import load_zoo_actor, update_zoo_index
    from madatasets.scenarios import get_spec
    from madatasets.smax_vector import VectorRollout
    trained = straight["snapshots"][-1]["actor"]
    trained.save(tmp_path / "smax-3m" / "expert.npz")
    update_zoo_index(tmp_path, "smax-3m", {
        "scenario_version": get_spec("smax-3m").version, "algorithm": "smax-mappo",
        "policies": {"expert": {"id": "zoo/smax-3m/expert", "file": "smax-3m/expert.npz", "sha256": trained.checksum}}})
    actor, _ = load_zoo_actor("smax-3m", "expert", tmp_path)
    assert actor.recurrent and actor.hidden_size == 16 and actor.checksum == trained.checksum
    assert actor.checksum != SmaxActor(actor.weights, actor.biases).checksum

    policy = actor.jax_policy(smax, "epsilon")
    assert np.asarray(policy.initial()).shape == (3, 16) and not np.asarray(policy.initial()).any()
    episodes = VectorRollout(smax, policy, 4, chunk=16).run(0, episodes=6)
    for episode in episodes:
        rows, allies = np.arange(len(episode["actions"]))[:, None], np.arange(3)[None, :]
        assert episode["legal_actions"][:-1][rows, allies, episode["actions"]].all()

    # The same observation with another history: the hidden state moves and the logits differ.
    obs, legal = jnp.asarray(episodes[0]["observations"][5]), jnp.asarray(episodes[0]["legal_actions"][5])
    key = jax.random.PRNGKey(0)
    _, memory = policy.act(key, 5, obs, legal, policy.initial())
    _, again = policy.act(key, 5, obs, legal, memory)
    assert np.asarray(memory).any() and not np.allclose(memory, again)
    fresh, _ = recurrent_logits(actor.params(), obs, legal, policy.initial())
    remembered, _ = recurrent_logits(actor.params(), obs, legal, memory)
    assert np.abs(np.asarray(fresh) - np.asarray(remembered))[np.asarray(legal)].max() > 1e-6

    # The mixed tier's form: one actor per ally, each actor's hidden state in the memory.
    early = straight["snapshots"][1]["actor"]
    mixed = assigned_policy([early, actor], np.array([0, 1, 1]), "epsilon")
    block = VectorRollout(smax, mixed, 4, chunk=16).run_block(0, steps=64)
    assert block.legal_actions[np.arange(64)[:, None], np.arange(3)[None, :], block.actions].all()
    with pytest.raises(ValueError, match="no hidden state"):
        SmaxActor(actor.weights, actor.biases).hidden_size


def test_the_feed_forward_learner_is_unchanged(smax):
    """The checksum of two updates measured before the recurrent option existed."""
    ppo = SmaxPPO(smax, SmaxPPOConfig(**FEED_FORWARD))
    run = ppo.initial_state(11)
    assert "hidden" not in run and "recurrent" not in SmaxPPOConfig(**FEED_FORWARD).to_dict()
    for _ in range(2):
        run, _ = ppo.step(run)
    assert SmaxActor.from_params(jax.device_get(run["params"])).checksum == \
        "2619c1da34a8dee6e615d408629da97bb9725f1a89e6f8cd37d03d23c6f0d2aa"
