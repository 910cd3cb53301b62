"""The zoo learners' networks (collectors/td3.py, collectors/mappo.py): a plain MLP actor, the
parameter-shared per-agent actor exported as one joint MLP, and TD3's twin critics as one
batched network. Initialised as torch.nn.Linear is, from the run's own generator."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def _uniform(generator: torch.Generator, shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
    # torch.nn.Linear's default initialisation, drawn from our own generator.
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * bound


class Actor(nn.Module):
    """state -> tanh(MLP(state)): the deterministic joint action in [-1, 1]."""

    def __init__(self, sizes: list[int], generator: torch.Generator):
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(_uniform(generator, (n_in, n_out), n_in))
                                         for n_in, n_out in zip(sizes[:-1], sizes[1:])])
        self.biases = nn.ParameterList([nn.Parameter(_uniform(generator, (n_out,), n_in))
                                        for n_in, n_out in zip(sizes[:-1], sizes[1:])])

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        hidden = states
        for weight, bias in zip(self.weights[:-1], self.biases[:-1]):
            hidden = torch.relu(torch.addmm(bias, hidden, weight))
        return torch.tanh(torch.addmm(self.biases[-1], hidden, self.weights[-1]))

    def numpy_layers(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return ([w.detach().numpy().astype(np.float32).copy() for w in self.weights],
                [b.detach().numpy().astype(np.float32).copy() for b in self.biases])


class SharedActor(nn.Module):
    """One actor for every agent (parameter sharing): a_i = tanh(MLP([o_i, onehot(i)])).

    o_i is agent i's slice of the state (MPE: the state is the team's observations
    concatenated), so the joint action is decentralized and symmetric; agents with
    fewer action dimensions use the first ones of the shared output. Exported as
    one block-diagonal joint MLP on the state (`numpy_layers`), the zoo's format.
    """

    def __init__(self, state_dim: int, obs_index: list[list[int]], act_sizes: list[int], hidden: tuple[int, ...],
                 generator: torch.Generator):
        super().__init__()
        self.state_dim = state_dim
        self.n_agents, self.obs_size = len(obs_index), len(obs_index[0])
        self.act_sizes, self.act_max = list(act_sizes), max(act_sizes)
        self.register_buffer("obs_index", torch.tensor(obs_index, dtype=torch.long), persistent=False)
        self.register_buffer("agent_ids", torch.eye(self.n_agents), persistent=False)
        self.register_buffer("columns", torch.tensor([i * self.act_max + d for i, size in enumerate(act_sizes)
                                                      for d in range(size)]), persistent=False)
        self.mlp = Actor([self.obs_size + self.n_agents, *hidden, self.act_max], generator)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        batch = states.shape[0]
        inputs = torch.cat([states[:, self.obs_index], self.agent_ids.expand(batch, -1, -1)], dim=-1)
        out = self.mlp(inputs.reshape(batch * self.n_agents, -1)).reshape(batch, self.n_agents * self.act_max)
        return out[:, self.columns]

    def numpy_layers(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        weights, biases = self.mlp.numpy_layers()
        n = self.n_agents
        first = np.zeros((self.state_dim, n * weights[0].shape[1]), dtype=np.float32)
        joint_weights, joint_biases = [first], []
        width = weights[0].shape[1]
        bias0 = []
        for i, rows in enumerate(self.obs_index.tolist()):
            first[rows, i * width:(i + 1) * width] = weights[0][: self.obs_size]
            bias0.append(biases[0] + weights[0][self.obs_size + i])   # the one-hot id folds into the bias
        joint_biases.append(np.concatenate(bias0).astype(np.float32))
        for weight, bias in zip(weights[1:-1], biases[1:-1]):
            joint_weights.append(np.kron(np.eye(n, dtype=np.float32), weight).astype(np.float32))
            joint_biases.append(np.tile(bias, n).astype(np.float32))
        last, width = weights[-1], weights[-1].shape[0]
        out = np.zeros((n * width, sum(self.act_sizes)), dtype=np.float32)
        column = 0
        for i, size in enumerate(self.act_sizes):
            out[i * width:(i + 1) * width, column:column + size] = last[:, :size]
            column += size
        joint_weights.append(out)
        joint_biases.append(np.concatenate([biases[-1][:size] for size in self.act_sizes]).astype(np.float32))
        return joint_weights, joint_biases


class TwinCritic(nn.Module):
    """Q1 and Q2 of (state, action) as one network with a leading axis of 2."""

    def __init__(self, sizes: list[int], generator: torch.Generator):
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(_uniform(generator, (2, n_in, n_out), n_in))
                                         for n_in, n_out in zip(sizes[:-1], sizes[1:])])
        self.biases = nn.ParameterList([nn.Parameter(_uniform(generator, (2, 1, n_out), n_in))
                                        for n_in, n_out in zip(sizes[:-1], sizes[1:])])

    def forward(self, states: torch.Tensor, actions: torch.Tensor, heads: int = 2) -> torch.Tensor:
        """(heads, B) values; heads=1 evaluates Q1 alone (the actor's objective)."""
        hidden = torch.cat([states, actions], dim=-1).expand(heads, -1, -1)
        for weight, bias in zip(self.weights[:-1], self.biases[:-1]):
            hidden = torch.relu(torch.baddbmm(bias[:heads], hidden, weight[:heads]))
        return torch.baddbmm(self.biases[-1][:heads], hidden, self.weights[-1][:heads]).squeeze(-1)
