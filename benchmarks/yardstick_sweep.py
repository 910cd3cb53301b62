"""Sweep of the scripted MPE yardsticks' parameters (docs/zoo.md, Yardsticks): 200 episodes each, seed 5.

    python benchmarks/yardstick_sweep.py
"""

from __future__ import annotations

import numpy as np
from collectors.rollout import rollout
from collectors.yardsticks import Pursuit, SpreadAssignment
from madatasets.scenarios import episode_return
def mean(s, p):
    return np.mean([episode_return(e["rewards"]) for e in rollout(s, p, None, 5, 1, False, episodes_wanted=200)])


for s in ("mpe-tag-3v1", "mpe-world-4v2"):
    print(s, " / ".join(f"{mean(s, Pursuit(s, lead)):.1f}" for lead in (0.0, 0.3, 0.6, 0.9, 1.2, 1.6)))
print("mpe-spread-3", " / ".join(f"{mean('mpe-spread-3', SpreadAssignment(gain=g, damping=d)):.2f}" for g, d in ((4, 1.5), (2, 1), (6, 2), (8, 3), (3, 0.5))))
