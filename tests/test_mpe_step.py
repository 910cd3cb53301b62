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
