"""The MPE backend's direct step is mpe2's wrapped parallel step, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from madatasets.scenarios import get_spec


def _chase(backend, bounds) -> list[np.ndarray]:
    """Every team agent pushes toward the nearest prey (so that contacts happen)."""
    world = backend.world
    prey = [a.state.p_pos for a in world.agents if not getattr(a, "adversary", True)]
    actions = []
    for name, (low, _) in zip(backend.team, bounds):
        agent = next(a for a in world.agents if a.name == name)
        direction = min((p - agent.state.p_pos for p in prey), key=lambda d: float(d @ d)) if prey else np.zeros(2)
        action = np.zeros_like(low)
        action[1], action[2] = max(-direction[0], 0), max(direction[0], 0)
        action[3], action[4] = max(-direction[1], 0), max(direction[1], 0)
        actions.append(np.clip(action * 4, 0, 1).astype(low.dtype))
    return actions


@pytest.mark.parametrize("scenario", ["mpe-spread-3", "mpe-tag-3v1", "mpe-world-4v2"])
def test_the_direct_step_reproduces_the_pettingzoo_step(scenario):
    spec = get_spec(scenario)
    direct, wrapped = spec.builder(spec), spec.builder(spec)
    rng = np.random.default_rng(11)
    bounds = direct.native_bounds()
    contacts = 0
    for episode in range(16):
        for backend in (direct, wrapped):
            backend.reset(1000 + episode)
        for t in range(spec.episode_limit):
            if episode % 2 and scenario != "mpe-spread-3":
                actions = _chase(wrapped, bounds)
            else:
                # Some actions outside the boxes, which both paths must clip alike.
                actions = [rng.uniform(low - 0.2, high + 0.2).astype(low.dtype) for low, high in bounds]
            ours = direct.step([a.copy() for a in actions])
            reference = wrapped.step_via_pettingzoo([a.copy() for a in actions])
            for got, want in zip(ours[0], reference[0]):
                assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), (episode, t)
            assert ours[1].tobytes() == reference[1].tobytes() and ours[2].tobytes() == reference[2].tobytes()
            assert ours[3:] == reference[3:]
            assert ours[4] == (t == spec.episode_limit - 1)
            contacts += int(scenario != "mpe-spread-3" and (reference[2] > 0).any())
        for a, b in zip(direct.world.entities, wrapped.world.entities):
            assert a.state.p_pos.tobytes() == b.state.p_pos.tobytes()
    if scenario != "mpe-spread-3":
        assert contacts > 0        # the collision rewards were compared too


def test_training_shaping_pulls_toward_a_point_ahead_of_the_prey():
    from collectors.joint_env import JointEnv
    from collectors.train_config import default_config
    from madatasets.errors import MadataError
    # The same episode with and without the shaping: the training reward differs by exactly it.
    env, unshaped = (JointEnv("mpe-tag-3v1", seed=0, reward_shaping=shaping, shaping_lead=0.5) for shaping in (0.1, 0))
    env.reset(), unshaped.reset()
    world = env.env._backend.world
    for _ in range(5):
        action = np.zeros(env.action_space.shape, dtype=np.float32)
        (_, training_reward, _, _, _), (_, reward, _, _, _) = env.step(action), unshaped.step(action)
    assert training_reward == pytest.approx(reward - 0.1 * env.env.pursuit_distance(0.5))
    prey = next(a for a in world.agents if not a.adversary)
    ahead = prey.state.p_pos + 0.5 * prey.state.p_vel
    assert np.linalg.norm(prey.state.p_vel) > 0           # the lead point is not the prey itself
    expected = sum(float(np.linalg.norm(a.state.p_pos - ahead)) for a in world.agents if a.adversary)
    assert env.env.pursuit_distance(0.5) == pytest.approx(expected)
    assert env.env.pursuit_distance(0.5) != pytest.approx(env.env.pursuit_distance())
    with pytest.raises(MadataError, match="shaping_lead"):
        default_config("mpe-tag-3v1", shaping_lead=0.5, reward_shaping=0.0)
