"""Hyperparameter presets: `paper` (OMAR appendix B.1) and `released-code` (the authors' code).

A preset maps (algorithm, dataset id) to config values; CLI overrides apply after it.
Sources: the OMAR paper, Appendix B.1, and docs/baselines.md (from
/work/shared/notes/field-facts.md) for how the released code differs.
"""

from __future__ import annotations

from typing import Any

from madatasets.errors import MadataError
from madatasets.scenarios import get_spec
from madatasets.store import parse_id

PRESETS = ("paper", "released-code", "defaults")

# OMAR's actor coefficient tau by dataset quality (paper Appendix B.1).
PAPER_TAU = {"random": 0.5, "medium-replay": 0.5, "medium": 0.7, "expert": 0.9}
# CQL weight by scenario and quality. The paper tunes it in {0.1, 0.5, 1, 5} without
# publishing the picks; these are the values of the authors' released code (all in that set).
CQL_WEIGHT = {
    "mpe-spread-3": {"random": 0.5, "medium-replay": 1.0, "medium": 5.0, "expert": 5.0},
    "mpe-tag-3v1": {"random": 0.5, "medium-replay": 0.5, "medium": 5.0, "expert": 5.0},
    "mpe-world-4v2": {"random": 0.5, "medium-replay": 1.0, "medium": 0.5, "expert": 5.0},
    "halfcheetah-2x3": {"random": 1.0, "medium-replay": 5.0, "medium": 1.0, "expert": 5.0},
}
ACTOR_CRITICS = ("itd3", "matd3_bc", "macql", "maicq", "omar")


def preset_values(preset: str, algorithm: str, dataset_id: str, fields: set[str]) -> tuple[dict[str, Any], list[str]]:
    """Config values of `preset` for `algorithm` on `dataset_id` (only keys in `fields`), and notes."""
    if preset not in PRESETS:
        raise MadataError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
    parsed = parse_id(dataset_id)
    scenario, quality = parsed.scenario, parsed.quality
    family = get_spec(scenario).family
    values: dict[str, Any] = {}
    notes: list[str] = []
    if preset == "defaults":
        return values, notes
    if algorithm in ACTOR_CRITICS:
        values.update(gamma=0.99, actor_lr=0.01, critic_lr=0.01, soft_update=0.01, batch_size=1024, hidden=(64, 64))
    if algorithm in ("macql", "omar"):
        weight = CQL_WEIGHT.get(scenario, {}).get(quality)
        if weight is None:
            notes.append(f"no published CQL weight for {scenario}/{quality}; using cql_weight=1.0")
            weight = 1.0
        values["cql_weight"] = weight
    if algorithm == "omar":
        tau = PAPER_TAU.get(quality)
        if tau is None:
            notes.append(f"the paper gives no tau for quality {quality!r}; using tau=0.7")
            tau = 0.7
        values.update(tau=tau, sampler="omar", sampler_iterations=3, sampler_samples=10,
                      sampler_init_mean=0.0, sampler_init_std=2.0)
    if preset == "released-code" and algorithm in ACTOR_CRITICS:
        values.update(gamma=0.95 if family == "mpe" else 0.99, policy_noise=0.0, policy_delay=1,
                      input_batchnorm=True)
        if algorithm in ("macql", "omar"):
            values.update(cql_uniform_actions=10, cql_policy_actions=0)
        if algorithm == "omar":
            values["actor_l2"] = 1e-3
            if scenario == "mpe-spread-3":
                values["tau"] = 1.0
            else:
                notes.append(f"released-code tau is only known for spread; keeping the paper's tau on {scenario}")
        notes.append("the released code also ran ~2,000 updates per agent on MPE (one per 100 loop steps) "
                     "and evaluated 10 episodes; pass --steps to match")
    return {k: v for k, v in values.items() if k in fields}, notes
