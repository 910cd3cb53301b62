"""A per-agent-loop version of any baseline, to check and time what batching over agents does.

`loop_over_agents(algorithm)` swaps every StackedMLP of an algorithm for a
LoopedMLP with the same weights (one nn.Sequential per agent, evaluated in a
Python loop) and rebuilds its optimizers; the algorithm's update code, and so
its random draws, stay exactly the same. `compare_update` runs both versions
from the same seed and returns the largest parameter difference.
"""

from __future__ import annotations

import dataclasses

import torch

from baselines.algorithms import algorithm_module
from baselines.core.config import seed_everything
from baselines.core.networks import LoopedMLP, StackedMLP
from baselines.core.replay import OfflineReplay
from madatasets.dataset import Dataset

NETWORKS = ("actor", "actor_target", "critic", "critic_target")
OPTIMIZERS = {"actor_optimizer": "actor", "critic_optimizer": "critic", "optimizer": "actor"}


def loop_over_agents(algorithm: torch.nn.Module) -> torch.nn.Module:
    for name in NETWORKS:
        network = getattr(algorithm, name, None)
        if isinstance(network, StackedMLP):
            looped = LoopedMLP.from_stacked(network)
            if name.endswith("_target"):
                looped.requires_grad_(False)
            setattr(algorithm, name, looped)
    for optimizer_name, network_name in OPTIMIZERS.items():
        optimizer = getattr(algorithm, optimizer_name, None)
        if isinstance(optimizer, torch.optim.Optimizer):
            settings = {k: v for k, v in optimizer.defaults.items() if k in ("lr", "betas", "eps", "weight_decay")}
            setattr(algorithm, optimizer_name,
                    type(optimizer)(getattr(algorithm, network_name).parameters(), **settings))
    return algorithm


def stacked_weights(network: torch.nn.Module) -> list[torch.Tensor]:
    """Weights as (M, out, in) and biases as (M, 1, out), for either implementation."""
    if isinstance(network, StackedMLP):
        return [t for layer in network.layers for t in (layer.weight, layer.bias)]
    linears = [[m for m in member if isinstance(m, torch.nn.Linear)] for member in network.members_list]
    tensors = []
    for index in range(len(linears[0])):
        tensors.append(torch.stack([member[index].weight for member in linears]))
        tensors.append(torch.stack([member[index].bias[None] for member in linears]))
    return tensors


def build(name: str, dataset: Dataset, replay: OfflineReplay, seed: int, critic: str = "decentralized", **values):
    from baselines.bench import build_config
    config, _ = build_config(name, dataset.id, critic=critic)
    config = dataclasses.replace(config, **values)
    generator = seed_everything(seed)
    algorithm = algorithm_module(name).Algorithm(config, dataset.spec, generator, replay.observation_statistics())
    return algorithm, generator


def compare_update(name: str, dataset: Dataset, replay: OfflineReplay, critic: str = "decentralized",
                   batch_size: int = 64, updates: int = 2, seed: int = 0) -> float:
    """Largest absolute parameter difference between batched and looped training after `updates` updates."""
    values = {"batch_size": batch_size, "input_batchnorm": False}
    if name != "bc":
        values["policy_delay"] = 1
    batched, batched_generator = build(name, dataset, replay, seed, critic, **values)
    looped, looped_generator = build(name, dataset, replay, seed, critic, **values)
    loop_over_agents(looped)
    for _ in range(updates):
        batched.update(replay.sample(batch_size, batched_generator, batched.config.independent_batches))
        looped.update(replay.sample(batch_size, looped_generator, looped.config.independent_batches))
    worst = 0.0
    for network in NETWORKS:
        if isinstance(getattr(batched, network, None), StackedMLP):
            for a, b in zip(stacked_weights(getattr(batched, network)), stacked_weights(getattr(looped, network))):
                worst = max(worst, (a - b).abs().max().item())
    return worst
