"""MPE's movement as two forces: a smaller action space for the learner, the same environment.

mpe2's continuous action gives each movable agent five entries (no-op, -x, +x, -y, +y)
in [0, 1] and uses only their differences: force = (a[2] - a[1], a[4] - a[3]). A
learner on the five entries spends its noise (and its entropy bonus) on directions that
cancel. Here the learner acts with (fx, fy) plus any communication entries, and the
environment gets, in the zoo's [-1, 1] action scale, (0, -fx, fx, -fy, fy, comm...):
after mpe2's [0, 1] rescaling, a[2] - a[1] = fx exactly. The map is linear with one +-1
per row, so the exported actor (a plain joint MLP, the zoo's format) folds it into its
last layer and records mpe2's own five-entry actions.
"""

from __future__ import annotations

import numpy as np

from madatasets.errors import MadataError
from madatasets.scenarios import get_spec

MOVEMENT = 5   # mpe2's continuous movement entries of a movable agent (dim_p * 2 + 1)


def force_layout(scenario: str, act_sizes: list[int]) -> tuple[list[int], np.ndarray]:
    """The learner's per-agent action sizes and the (environment dims x learner dims) map."""
    if get_spec(scenario).family != "mpe":
        raise MadataError(f"action_parametrization=forces applies to MPE scenarios only, not {scenario}")
    reduced = [size - MOVEMENT + 2 for size in act_sizes]
    output_map = np.zeros((sum(act_sizes), sum(reduced)), dtype=np.float32)
    row, column = 0, 0
    for size, small in zip(act_sizes, reduced):
        fx, fy = column, column + 1
        output_map[row + 1, fx], output_map[row + 2, fx] = -1.0, 1.0
        output_map[row + 3, fy], output_map[row + 4, fy] = -1.0, 1.0
        for k in range(size - MOVEMENT):   # communication entries pass through
            output_map[row + MOVEMENT + k, column + 2 + k] = 1.0
        row, column = row + size, column + small
    return reduced, output_map
