"""Test and benchmark reference code: a per-agent-loop version of any baseline, to check and time
what batching over agents does (tests/test_batched.py, benchmarks/train_speed.py). Not training code.

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

import contextlib
import dataclasses
from typing import Any, Iterator

import torch

from torch import nn

from baselines.algorithms import algorithm_module, setting
from baselines.bench import make_replay as _make_replay
from baselines.configure import build_config
from baselines.core.config import seed_everything
from baselines.core.networks import StackedMLP, concatenate_candidates, masks_anything
from madatasets.dataset import Dataset

class LoopedMLP(nn.Module):
    """Reference implementation of a StackedMLP: one ordinary nn.Sequential per member, run in a Python loop.

    Same interface and (after `from_stacked`) the same weights as the stacked
    network; used to check that batching changes nothing and to time what batching
    saves (benchmarks/train_speed.py). Not for training code.
    """

    def __init__(self, members: list[nn.Sequential], input_mask: torch.Tensor | None,
                 output_mask: torch.Tensor | None, output_activation: str | None):
        super().__init__()
        self.members_list = nn.ModuleList(members)
        self.members = len(members)
        self.output_activation = output_activation
        self.register_buffer("input_mask", input_mask)
        self.register_buffer("output_mask", output_mask)
        self.mask_inputs, self.mask_outputs = masks_anything(input_mask), masks_anything(output_mask)

    @classmethod
    def from_stacked(cls, stacked: StackedMLP) -> "LoopedMLP":
        if stacked.input_norm is not None:
            raise ValueError("LoopedMLP does not reproduce input BatchNorm")
        members = []
        for m in range(stacked.members):
            layers: list[nn.Module] = []
            for index, layer in enumerate(stacked.layers):
                linear = nn.Linear(layer.in_features, layer.out_features)
                with torch.no_grad():
                    linear.weight.copy_(layer.weight[m])
                    linear.bias.copy_(layer.bias[m, 0])
                layers.append(linear)
                if index < len(stacked.layers) - 1:
                    layers.append(nn.ReLU())
            members.append(nn.Sequential(*layers))
        return cls(members, stacked.input_mask, stacked.output_mask, stacked.output_activation)

    def forward_candidates(self, context: torch.Tensor, candidates: torch.Tensor,
                           members: slice | None = None) -> torch.Tensor:
        """The straightforward way: build every [context, candidate] row and run the loop on them."""
        return self(concatenate_candidates(context, candidates), members)

    def forward(self, x: torch.Tensor, members: slice | None = None) -> torch.Tensor:
        indices = range(self.members)[members] if members is not None else range(self.members)
        outputs = []
        for row, m in enumerate(indices):
            h = x[row]
            if self.mask_inputs:
                h = h * self.input_mask[m]
            h = self.members_list[m](h)
            if self.output_activation == "tanh":
                h = torch.tanh(h)
            if self.mask_outputs:
                h = h * self.output_mask[m]
            outputs.append(h)
        return torch.stack(outputs)


@contextlib.contextmanager
def unfactored_candidates() -> Iterator[None]:
    """StackedMLP.forward_candidates builds the concatenated inputs instead of factoring the first layer."""
    original = StackedMLP.forward_candidates

    def concatenated(self: StackedMLP, context: torch.Tensor, candidates: torch.Tensor,
                     members: slice | None = None) -> torch.Tensor:
        return self(concatenate_candidates(context, candidates), members)
    StackedMLP.forward_candidates = concatenated
    try:
        yield
    finally:
        StackedMLP.forward_candidates = original


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


def is_decentralized(name: str) -> bool:
    """True for the per-agent setting (bcq, mabcq, ...)."""
    return setting(name) == "per-agent"


def make_replay(name: str, dataset: Dataset, critic: str = "decentralized", observation: str = "state",
                config_id: str | None = None) -> Any:
    """The replay `madata bench` builds for algorithm `name` (observation: per-agent inputs)."""
    config, _ = build_config(name, config_id or dataset.id, critic=critic)
    if is_decentralized(name):
        config = dataclasses.replace(config, observation=observation)
    return _make_replay(setting(name), dataset, config)


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
        algorithm.pretrain(replay, generator)
    for _ in range(updates):
        batched.update(replay.sample(batch_size, batched_generator))
        looped.update(replay.sample(batch_size, looped_generator))
    worst = 0.0
    for path in NETWORKS:
        if isinstance(_get(batched, path), StackedMLP):
            for a, b in zip(stacked_weights(_get(batched, path)), stacked_weights(_get(looped, path))):
                worst = max(worst, (a - b).abs().max().item())
    return worst
