"""Per-agent networks stacked on an agent axis and evaluated in one batched call.

Every tensor that flows through these modules is agent-major: (M, B, D) where M
is the number of stacked members (usually the N agents, 2N for twin critics),
B the batch and D the features. A `StackedLinear` holds one weight matrix per
member and applies all of them with a single `torch.baddbmm`, so the update of
N agents costs one kernel per layer instead of a Python loop, while each
member's math stays independent (member m only ever sees row m of the input).
Activations too large for the CPU's cache are computed in groups of members
instead (`GROUP_BYTES`), which is faster there than one call.
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import torch
from torch import nn


# Largest activation, in bytes, that one batched call of a StackedMLP produces. Past it the
# members are evaluated in groups: on CPU, one (M, rows, 64) activation of tens of MB no
# longer fits in cache, and every elementwise pass over it (bias, ReLU, their backward)
# then runs at memory speed; groups that fit run 15-20% faster on MA-CQL and OMAR
# (twin critics on 20 sampled actions per row) here (docs/performance.md).
GROUP_BYTES = 4 << 20


class StackedLinear(nn.Module):
    """M independent affine maps y_m = x_m W_m^T + b_m, computed as one batched matmul.

    Weights are stored (M, out, in) like nn.Linear's: on CPU the backward pass of
    baddbmm against the transposed view is about 25% faster than with (M, in, out).
    """

    def __init__(self, members: int, in_features: int, out_features: int):
        super().__init__()
        self.members, self.in_features, self.out_features = members, in_features, out_features
        self.weight = nn.Parameter(torch.empty(members, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(members, 1, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same distribution as nn.Linear's default, drawn independently per member.
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features else 0.0
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, members: slice | None = None) -> torch.Tensor:
        weight, bias = (self.weight, self.bias) if members is None else (self.weight[members], self.bias[members])
        return torch.baddbmm(bias, x, weight.transpose(1, 2))


class StackedBatchNorm(nn.Module):
    """Per-member BatchNorm over the batch axis of (M, B, D) inputs (no affine, like an input normaliser).

    Training mode normalises with the batch statistics and updates running
    statistics; eval mode uses the running statistics.
    """

    def __init__(self, members: int, features: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.register_buffer("running_mean", torch.zeros(members, 1, features))
        self.register_buffer("running_var", torch.ones(members, 1, features))

    def forward(self, x: torch.Tensor, members: slice | None = None) -> torch.Tensor:
        running_mean = self.running_mean if members is None else self.running_mean[members]
        running_var = self.running_var if members is None else self.running_var[members]
        if self.training and x.shape[1] > 1:
            mean = x.mean(dim=1, keepdim=True)
            var = x.var(dim=1, unbiased=False, keepdim=True)
            with torch.no_grad():
                unbiased = var * x.shape[1] / (x.shape[1] - 1)
                running_mean.lerp_(mean.detach(), self.momentum)
                running_var.lerp_(unbiased.detach(), self.momentum)
        else:
            mean, var = running_mean, running_var
        return (x - mean) / torch.sqrt(var + self.eps)


def masks_anything(mask: torch.Tensor | None) -> bool:
    return mask is not None and not bool((mask == 1).all())


class StackedMLP(nn.Module):
    """M independent MLPs with ReLU hidden layers, all evaluated in one call.

    input_mask (M, D_in) zeroes padded input dimensions so that a member never
    depends on them; output_mask (M, D_out) does the same for padded outputs
    (e.g. action dimensions an agent does not have). output_activation may be
    "tanh" (actions in [-1, 1]) or None.
    """

    def __init__(self, members: int, in_features: int, out_features: int, hidden: Sequence[int] = (64, 64),
                 input_mask: torch.Tensor | None = None, output_mask: torch.Tensor | None = None,
                 output_activation: str | None = None, input_batchnorm: bool = False):
        super().__init__()
        if output_activation not in (None, "tanh"):
            raise ValueError(f"output_activation must be None or 'tanh', got {output_activation!r}")
        sizes = [in_features, *hidden, out_features]
        self.layers = nn.ModuleList(StackedLinear(members, a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.input_norm = StackedBatchNorm(members, in_features) if input_batchnorm else None
        self.output_activation = output_activation
        self.members = members
        self.width = max(sizes)
        self.register_buffer("input_mask", None if input_mask is None else input_mask.float().unsqueeze(1))
        self.register_buffer("output_mask", None if output_mask is None else output_mask.float().unsqueeze(1))
        # A mask of all ones (no agent has padding) changes nothing: skip the multiply, which
        # copies a whole (M, B, D) tensor, e.g. the twin critics' inputs on every sampled action.
        self.mask_inputs, self.mask_outputs = masks_anything(self.input_mask), masks_anything(self.output_mask)

    def forward(self, x: torch.Tensor, members: slice | None = None) -> torch.Tensor:
        """x: (M, B, D_in), or (len(members), B, D_in) when evaluating a slice of the members."""
        count, rows = x.shape[0], x.shape[1]
        group = max(1, GROUP_BYTES // max(1, rows * self.width * x.element_size())) if GROUP_BYTES else count
        if group >= count or (members is not None and members.step not in (None, 1)):
            return self._forward(x, members)
        # Cache-sized groups of members (see GROUP_BYTES); member m still only sees row m.
        first = 0 if members is None else range(self.members)[members].start
        return torch.cat([self._forward(x[i:i + group], slice(first + i, first + min(i + group, count)))
                          for i in range(0, count, group)])

    def forward_candidates(self, context: torch.Tensor, candidates: torch.Tensor,
                           members: slice | None = None) -> torch.Tensor:
        """The network on K candidates per row: context (M, B, C), candidates (M, B, K, D_in - C).

        Equals forward() on the inputs [context, candidate] laid out (M, B*K, D_in) (row b*K + k
        is candidate k of row b) and returns (M, B*K, D_out). The first layer is affine, so its
        context part W_c c + b is computed once per row and added to W_a a for each candidate
        instead of being recomputed K times: for critics scoring sampled actions (OMAR,
        MA-CQL) or BCQ's generated actions on a global state this is 20 to 45% of the
        network's multiply-adds, and the (M, B*K, D_in) input is never built. Same math, sums
        in a different order (results differ in the last bits).
        """
        if self.input_norm is not None:
            # Input BatchNorm takes statistics over the concatenated rows: no shortcut.
            return self(concatenate_candidates(context, candidates), members)
        count, rows = candidates.shape[0], candidates.shape[1] * candidates.shape[2]
        group = max(1, GROUP_BYTES // max(1, rows * self.width * candidates.element_size())) if GROUP_BYTES else count
        if group >= count or (members is not None and members.step not in (None, 1)):
            return self._forward_candidates(context, candidates, members)
        first = 0 if members is None else range(self.members)[members].start
        return torch.cat([self._forward_candidates(context[i:i + group], candidates[i:i + group],
                                                   slice(first + i, first + min(i + group, count)))
                          for i in range(0, count, group)])

    def _forward_candidates(self, context: torch.Tensor, candidates: torch.Tensor,
                            members: slice | None = None) -> torch.Tensor:
        count, batch, k, width = candidates.shape
        split = context.shape[-1]
        if self.mask_inputs:
            mask = self.input_mask if members is None else self.input_mask[members]      # (M, 1, D_in)
            context, candidates = context * mask[..., :split], candidates * mask[..., split:].unsqueeze(1)
        first = self.layers[0]
        weight = first.weight if members is None else first.weight[members]            # (M, H, D_in)
        bias = first.bias if members is None else first.bias[members]
        per_row = torch.baddbmm(bias, context, weight[..., :split].transpose(1, 2))     # (M, B, H)
        x = torch.bmm(candidates.reshape(count, batch * k, width), weight[..., split:].transpose(1, 2))
        # Out of place and activated before the reshape: an in-place op on a view would make
        # autograd copy the whole activation back into its base in the backward pass.
        x = x.view(count, batch, k, -1) + per_row.unsqueeze(2)
        hidden = len(self.layers) > 1
        if hidden:
            x = torch.relu(x)
        return self._tail(x.view(count, batch * k, -1), members, 1, activated=hidden)

    def _forward(self, x: torch.Tensor, members: slice | None = None) -> torch.Tensor:
        if self.mask_inputs:
            x = x * (self.input_mask if members is None else self.input_mask[members])
        if self.input_norm is not None:
            x = self.input_norm(x, members)
        return self._tail(self.layers[0](x, members), members, 1)

    def _tail(self, x: torch.Tensor, members: slice | None, start: int, activated: bool = False) -> torch.Tensor:
        """Layers from `start` on, given the pre-activation of layer start - 1 (or its ReLU if `activated`)."""
        for layer in self.layers[start:]:
            if not activated:
                x = torch.relu_(x)               # in place: saves one activation-sized allocation per layer
            x, activated = layer(x, members), False
        if self.output_activation == "tanh":
            x = torch.tanh(x)
        if self.mask_outputs:
            x = x * (self.output_mask if members is None else self.output_mask[members])
        return x


def concatenate_candidates(context: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """[context, candidate] rows, (M, B*K, C + D): row b*K + k pairs row b with its candidate k."""
    count, batch, k, _ = candidates.shape
    inputs = torch.cat([context.unsqueeze(2).expand(-1, -1, k, -1), candidates], dim=-1)
    return inputs.reshape(count, batch * k, -1)


def make_target(network: nn.Module) -> nn.Module:
    """A frozen copy for bootstrapped targets."""
    target = copy.deepcopy(network)
    for parameter in target.parameters():
        parameter.requires_grad_(False)
    return target


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, rate: float) -> None:
    """target <- rate * source + (1 - rate) * target, parameters only.

    Buffers (input-normalisation statistics) are deliberately not copied: the
    authors' OMAR code never copies them either, and targets run in train mode.
    """
    for target_parameter, parameter in zip(target.parameters(), source.parameters()):
        target_parameter.lerp_(parameter, rate)
