"""A per-agent-loop version of any baseline, to check and time what batching over agents does.

`loop_over_agents(algorithm)` swaps every StackedMLP of an algorithm (actors,
critics, targets, BCQ's perturbation networks and the encoders/decoders of its
VAEs) for a LoopedMLP with the same weights (one nn.Sequential per agent,
evaluated in a Python loop) and rebuilds its optimizers; the algorithm's update
code, and so its random draws, stay exactly the same. `compare_update` runs both
versions from the same seed and returns the largest parameter difference.

The decentralized track (bcq, mabcq) fits its VAEs in `pretrain` before any
`update`; `compare_update` runs a short pretrain (`vae_updates`) on both versions
so that the VAE step is checked too, while the benchmark times `update` only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from baselines.algorithms import algorithm_module, is_decentralized  # noqa: F401  (re-exported for benchmarks)
from baselines.bench import make_replay  # noqa: F401  (the replay `madata bench` builds; re-exported)
from baselines.core.config import seed_everything
from baselines.core.networks import LoopedMLP, StackedMLP
from madatasets.dataset import Dataset

# Dotted attribute paths of every network that may be stacked over agents.
NETWORKS = ("actor", "actor_target", "critic", "critic_target", "perturbation", "perturbation_target",
            "behavior_model.encoder", "behavior_model.decoder", "transition_model.encoder", "transition_model.decoder")
# Optimizer attribute -> the network it trains (vae_optimizer: the algorithm's generative_parameters()).
OPTIMIZERS = {"actor_optimizer": "actor", "critic_optimizer": "critic", "optimizer": "actor",
              "perturbation_optimizer": "perturbation", "vae_optimizer": None}
# Optimizer settings that carry over to the rebuilt optimizer (fused/foreach do not change the math).
OPTIMIZER_SETTINGS = ("lr", "betas", "eps", "weight_decay", "foreach", "fused")


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _set(obj: Any, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        obj = getattr(obj, part)
    setattr(obj, last, value)


def loop_over_agents(algorithm: torch.nn.Module) -> torch.nn.Module:
    """Replace every StackedMLP of `algorithm` by an equal LoopedMLP and rebuild its optimizers, in place."""
    for path in NETWORKS:
        network = _get(algorithm, path)
        if isinstance(network, StackedMLP):
            looped = LoopedMLP.from_stacked(network)
            if not any(p.requires_grad for p in network.parameters()):
                looped.requires_grad_(False)
            _set(algorithm, path, looped)
    for optimizer_name, network_name in OPTIMIZERS.items():
        optimizer = getattr(algorithm, optimizer_name, None)
        if isinstance(optimizer, torch.optim.Optimizer):
            settings = {k: v for k, v in optimizer.defaults.items() if k in OPTIMIZER_SETTINGS}
            parameters = algorithm.generative_parameters() if network_name is None \
                else getattr(algorithm, network_name).parameters()
            setattr(algorithm, optimizer_name, type(optimizer)(parameters, **settings))
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


def build(name: str, dataset: Dataset, replay: Any, seed: int, critic: str = "decentralized",
          config_id: str | None = None, **values: Any) -> tuple[torch.nn.Module, torch.Generator]:
    """The algorithm as `madata bench` configures it for `config_id` (default dataset.id), with `values` on top.

    Values naming fields the algorithm's config lacks (e.g. policy_delay for bcq) are ignored.
    """
    from baselines.bench import build_config
    config, _ = build_config(name, config_id or dataset.id, critic=critic)
    fields = {f.name for f in dataclasses.fields(config)}
    config = dataclasses.replace(config, **{k: v for k, v in values.items() if k in fields})
    generator = seed_everything(seed)
    algorithm = algorithm_module(name).Algorithm(config, dataset.spec, generator, replay.observation_statistics())
    return algorithm, generator


def compare_update(name: str, dataset: Dataset, replay: Any, critic: str = "decentralized",
                   batch_size: int = 64, updates: int = 2, seed: int = 0, vae_updates: int = 2,
                   config_id: str | None = None, overrides: dict[str, Any] | None = None) -> float:
    """Largest absolute parameter difference between batched and looped training after `updates` updates.

    For algorithms with a `pretrain` (bcq, mabcq), both versions first fit their
    VAEs for `vae_updates` minibatches, and the VAE weights are compared as well.
    `overrides` are further config values (e.g. observation="local").
    """
    values = {"batch_size": batch_size, "input_batchnorm": False, "vae_updates": vae_updates, **(overrides or {})}
    if name != "bc":
        values["policy_delay"] = 1
    batched, batched_generator = build(name, dataset, replay, seed, critic, config_id, **values)
    looped, looped_generator = build(name, dataset, replay, seed, critic, config_id, **values)
    loop_over_agents(looped)
    for algorithm, generator in ((batched, batched_generator), (looped, looped_generator)):
        if hasattr(algorithm, "pretrain"):
            algorithm.pretrain(replay, generator)
    for _ in range(updates):
        batched.update(replay.sample(batch_size, batched_generator, batched.config.independent_batches))
        looped.update(replay.sample(batch_size, looped_generator, looped.config.independent_batches))
    worst = 0.0
    for path in NETWORKS:
        if isinstance(_get(batched, path), StackedMLP):
            for a, b in zip(stacked_weights(_get(batched, path)), stacked_weights(_get(looped, path))):
                worst = max(worst, (a - b).abs().max().item())
    return worst
