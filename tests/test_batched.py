"""Batching agents changes nothing: grouped stacked networks and the decentralized track against per-agent loops."""

from __future__ import annotations

import pytest
import torch

import baselines.core.networks as networks
from baselines.core.networks import LoopedMLP, StackedMLP
from baselines.core.reference import compare_update, make_replay
from madatasets.dataset import load

HOPPER = "hopper-3x1/random-v0"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def hopper(tmp_path_factory):
    from collectors.collect import collect
    root = tmp_path_factory.mktemp("batched") / "store"
    collect("hopper-3x1", "random", steps=300, store=root, progress=False)
    return load(HOPPER, str(root))


def test_members_evaluated_in_groups_equal_one_call_and_the_loop(monkeypatch):
    torch.manual_seed(0)
    input_mask = torch.ones(5, 7)
    input_mask[3, 4:] = 0
    stacked = StackedMLP(5, 7, 3, (16, 16), input_mask=input_mask, output_activation="tanh")
    looped = LoopedMLP.from_stacked(stacked)
    x = torch.randn(5, 40, 7, requires_grad=True)
    monkeypatch.setattr(networks, "GROUP_BYTES", 0)          # one call
    whole = stacked(x)
    whole_grads = torch.autograd.grad(whole.square().sum(), [x, *stacked.parameters()])
    monkeypatch.setattr(networks, "GROUP_BYTES", 2 * 40 * 16 * 4)   # groups of 2 members: 2, 2, 1
    grouped = stacked(x)
    grouped_grads = torch.autograd.grad(grouped.square().sum(), [x, *stacked.parameters()])
    assert torch.allclose(whole, grouped, atol=1e-6) and torch.allclose(grouped, looped(x), atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(whole_grads, grouped_grads))
    # A slice of members is grouped from the slice's first member on.
    part = stacked(x[1:4], members=slice(1, 4))
    assert torch.allclose(part, whole[1:4], atol=1e-6)


@pytest.mark.parametrize("name", ["bcq", "mabcq"])
@pytest.mark.parametrize("observation", ["state", "local"])
def test_decentralized_batched_update_equals_the_per_agent_loop_update(hopper, name, observation):
    # Includes a 2-minibatch VAE pretrain, so the VAE weights are compared too.
    replay = make_replay(name, hopper, observation=observation)
    worst = compare_update(name, hopper, replay, batch_size=64, updates=2, vae_updates=2,
                           overrides={"observation": observation})
    assert worst < 1e-4
