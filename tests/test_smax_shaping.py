"""The SMAX MAPPO's training-only shaping (`kill_bonus`, `death_penalty`): what one step
pays for kills and ally deaths, that it reaches only the learner's rewards (never the
recorded transitions), and that an unshaped config's records are unchanged."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jaxmarl")

from madatasets.smax import SMAX_MAPS, core, single_thread_flags  # noqa: E402

single_thread_flags()

import jax  # noqa: E402

from collectors.smax_mappo import SmaxPPO, SmaxPPOConfig  # noqa: E402

TINY = dict(n_envs=4, n_steps=64, hidden=(16, 16), n_epochs=1, minibatches=1)


@pytest.fixture(scope="module")
def smax():
    return core(SMAX_MAPS["smax-3m"][0])


def test_kills_and_deaths_are_paid_as_fractions_of_the_teams(smax):
    before, _ = smax.reset_fn(jax.random.PRNGKey(0))
    inner = before.state
    health, alive = np.asarray(inner.unit_health).copy(), np.asarray(inner.unit_alive).copy()
    health[[0, 3, 4]], alive[[0, 3, 4]] = 0.0, False    # ally 0 and enemies 0 and 1 (units 3, 4 of 3m) die
    after = before.replace(state=inner.replace(unit_health=health, unit_alive=alive))
    ppo = SmaxPPO(smax, SmaxPPOConfig(kill_bonus=2.0, death_penalty=1.5))
    assert float(ppo.shaping(before, after)) == pytest.approx(2.0 * 2 / 3 - 1.5 / 3, abs=1e-6)
    assert float(SmaxPPO(smax, SmaxPPOConfig(kill_bonus=2.0)).shaping(before, before)) == 0.0


def test_shaping_changes_the_learners_rewards_only(smax):
    plain, shaped = SmaxPPO(smax, SmaxPPOConfig(**TINY)), SmaxPPO(smax, SmaxPPOConfig(**TINY, death_penalty=3.0))
    run = plain.initial_state(2)
    (_, (batch, executed)) = jax.jit(lambda r: plain._rollout(r, record=True))(run)
    (_, (shaped_batch, shaped_executed)) = jax.jit(lambda r: shaped._rollout(r, record=True))(run)
    for field, value in zip(executed, shaped_executed):   # the same actions, the same recorded transitions
        np.testing.assert_array_equal(np.asarray(field), np.asarray(value))
    extra = np.asarray(shaped_batch.reward) - np.asarray(batch.reward)
    # the near-uniform first actor loses allies to the heuristic enemy: 3.0 x deaths / 3 allies each
    assert (extra <= 1e-6).all() and extra.min() < 0
    np.testing.assert_allclose(extra, np.round(extra), atol=1e-5)
    episodes = np.asarray(batch.done).sum(axis=0) + 1     # per environment, those the rollout touched
    assert (-extra.sum(axis=0) <= 3 * episodes + 1e-5).all()


def test_an_unshaped_config_records_no_shaping_fields():
    assert "kill_bonus" not in SmaxPPOConfig().to_dict()
    assert SmaxPPOConfig(kill_bonus=1.0).to_dict()["kill_bonus"] == 1.0
