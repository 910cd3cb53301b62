"""Sequences of consecutive steps for recurrent (GRU) agents: chunks of episodes, burn-in, a loss mask.

Every episode is cut into consecutive chunks of `sequence_length` steps from its
start (the last one shorter), so each step of the dataset lies in exactly one
chunk; chunks are drawn uniformly, so every step is equally likely to be trained
on. A drawn sequence is its chunk preceded by up to `burn_in` steps of the same
episode (never before the episode's start, where acting's hidden state is zero too):
the GRUs read the burn-in to warm their hidden state, and the loss leaves it out.

A batch is a `DiscreteBatch` with a time axis after the batch axis, (B, L, N, ...),
L the longest drawn sequence, and `mask` (B, L): 1 on the chunk's steps, 0 on the
burn-in and on the padding after a shorter sequence's end. Padding is zeros with
every action legal, so masked maxima and logsumexps stay finite there. Each step's
next-step fields are those of `DiscreteReplay` (the next row, or the stored final
rows at an episode's end).
"""

from __future__ import annotations

import numpy as np
import torch

from baselines.core.discrete import DiscreteBatch, DiscreteReplay
from madatasets.dataset import Dataset
from madatasets.errors import MadataError


class SequenceReplay(DiscreteReplay):
    """`DiscreteReplay`'s rows, sampled as sequences of consecutive steps of one episode."""

    def __init__(self, dataset: Dataset, sequence_length: int, burn_in: int):
        if sequence_length < 1 or burn_in < 0:
            raise MadataError(f"sequence_length must be positive and burn_in non-negative, "
                              f"got {sequence_length} and {burn_in}")
        super().__init__(dataset)
        self.sequence_length, self.burn_in = sequence_length, burn_in
        ends = torch.from_numpy(np.asarray(dataset.episode_ends, dtype=np.int64))
        starts = torch.cat([torch.zeros(1, dtype=torch.int64), ends[:-1]])
        chunks = (ends - starts + sequence_length - 1) // sequence_length              # per episode
        episode = torch.repeat_interleave(torch.arange(len(ends)), chunks)
        first_chunk = torch.cumsum(chunks, 0) - chunks
        position = torch.arange(len(episode)) - first_chunk[episode]                 # chunk's index in its episode
        self.chunk_starts = starts[episode] + position * sequence_length
        self.chunk_ends = torch.minimum(self.chunk_starts + sequence_length, ends[episode])
        self.window_starts = torch.maximum(starts[episode], self.chunk_starts - burn_in)

    @property
    def chunks(self) -> int:
        return len(self.chunk_starts)

    def sample(self, batch_size: int, generator: torch.Generator) -> DiscreteBatch:
        """`batch_size` counts transitions, as for `DiscreteReplay`: ceil(batch_size / sequence_length) sequences."""
        return self.sample_sequences(-(-batch_size // self.sequence_length), generator)

    def sample_sequences(self, count: int, generator: torch.Generator) -> DiscreteBatch:
        """`count` sequences, fields (count, L, ...) and mask (count, L)."""
        drawn = torch.randint(0, self.chunks, (count,), generator=generator)
        first, begin, end = self.window_starts[drawn], self.chunk_starts[drawn], self.chunk_ends[drawn]
        steps = int((end - first).max())
        rows = first.unsqueeze(1) + torch.arange(steps)                                 # (B, L)
        valid = rows < end.unsqueeze(1)
        mask = (valid & (rows >= begin.unsqueeze(1))).float()
        rows = torch.where(valid, rows, first.unsqueeze(1))             # padding reads a real row, then is filled

        def take(values: torch.Tensor, fill: float | bool = 0) -> torch.Tensor:
            gathered = values[rows]
            keep = valid.view(*valid.shape, *(1,) * (gathered.dim() - 2))
            return torch.where(keep, gathered, torch.full((), fill, dtype=gathered.dtype))

        return DiscreteBatch(take(self.observations), take(self.actions), take(self.legal, True),
                             take(self.rewards), take(self.next_observations), take(self.next_legal, True),
                             take(self.dones), take(self.states), take(self.next_states),
                             take(self.next_actions), take(self.has_next), mask)

