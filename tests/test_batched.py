"""Batching agents changes nothing: grouped stacked networks and the decentralized track against per-agent loops."""

from __future__ import annotations

import pytest
import torch

import baselines.core.networks as networks
from baselines.core.networks import StackedMLP
from benchmarks.reference import LoopedMLP
from benchmarks.reference import compare_update, make_replay
from madatasets.dataset import load

HOPPER = "hopper-3x1/random-v1"


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


@pytest.mark.parametrize("group_bytes", [0, 2 * 40 * 3 * 16 * 4])     # one call; groups of 2 members
def test_candidates_with_a_factored_first_layer_equal_the_concatenated_inputs(monkeypatch, group_bytes):
    monkeypatch.setattr(networks, "GROUP_BYTES", group_bytes)
    torch.manual_seed(0)
    input_mask = torch.ones(5, 7)
    input_mask[3, 2] = 0                                   # a padded context column
    input_mask[1, 6] = 0                                   # a padded candidate column
    stacked = StackedMLP(5, 7, 2, (16, 16), input_mask=input_mask, output_activation="tanh")
    context = torch.randn(5, 40, 4, requires_grad=True)
    candidates = torch.randn(5, 40, 3, 3, requires_grad=True)
    concatenated = torch.cat([context.unsqueeze(2).expand(-1, -1, 3, -1), candidates], -1).reshape(5, 120, 7)
    expected = stacked(concatenated)
    factored = stacked.forward_candidates(context, candidates)
    assert factored.shape == (5, 120, 2) and torch.allclose(factored, expected, atol=1e-6)
    inputs = [context, candidates, *stacked.parameters()]
    expected_grads = torch.autograd.grad(expected.square().sum(), inputs)
    factored_grads = torch.autograd.grad(factored.square().sum(), inputs)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(expected_grads, factored_grads))
    # A slice of members, and the looped reference (which builds the concatenated rows).
    part = stacked.forward_candidates(context[1:4], candidates[1:4], members=slice(1, 4))
    assert torch.allclose(part, expected[1:4], atol=1e-6)
    looped = LoopedMLP.from_stacked(stacked)
    assert torch.allclose(looped.forward_candidates(context, candidates), expected, atol=1e-6)
    # No hidden layer: the factored layer is the output layer, with no ReLU.
    linear = StackedMLP(5, 7, 2, (), input_mask=input_mask)
    assert torch.allclose(linear.forward_candidates(context, candidates), linear(concatenated), atol=1e-6)


@pytest.mark.parametrize("name", ["bcq", "mabcq"])
@pytest.mark.parametrize("observation", ["state", "local"])
def test_decentralized_batched_update_equals_the_per_agent_loop_update(hopper, name, observation):
    # Includes a 2-minibatch VAE pretrain, so the VAE weights are compared too.
    replay = make_replay(name, hopper, observation=observation)
    worst = compare_update(name, hopper, replay, batch_size=64, updates=2, vae_updates=2,
                           overrides={"observation": observation})
    assert worst < 1e-4
