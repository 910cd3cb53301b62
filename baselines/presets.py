"""Named hyperparameter presets. Each algorithm keeps its paper's per-dataset values in ONE table,
in its own file, read by its config's `table_values` (omar.PAPER_TAU, macql.CQL_WEIGHT,
mabcq.TABLE8_EPSILON, otc.config.TABLE3 for the online-tuning backbones).

  paper          the paper's values: the config defaults plus the per-dataset table;
  released-code  how the authors' released OMAR code differs (docs/baselines.md);
  defaults       the config defaults only.
"""

from __future__ import annotations

from typing import Any

from madatasets.errors import MadataError

PRESETS = ("paper", "released-code", "defaults")


def preset_values(preset: str, config_class: Any, dataset_id: str) -> tuple[dict[str, Any], list[str]]:
    """Config values of `preset` for `config_class` on `dataset_id`, and notes for the results file."""
    if preset not in PRESETS:
        raise MadataError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
    if preset == "defaults":
        return {}, []
    return config_class.preset_values(preset, dataset_id)
