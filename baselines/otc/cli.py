"""`madata bench otc`: the protocol's choices as options, its hyperparameters as `--set` keys.

`--set key=value` is routed by key: `otc.<key>` always to the protocol (OTCConfig),
a plain key to the backbone's config when it has that field, else to OTCConfig
(both have batch_size: `--set batch_size=...` is the backbone's, `--set
otc.batch_size=...` the tuning batch). The flags of earlier releases (--deployments,
--online-steps, --updates-per-deployment, --alpha, --fixed-alpha, --otc-set) still
work for one release and say which `--set` key replaces them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import click

from baselines.algorithms import algorithm_module
from baselines.core.config import parse_overrides, with_values
from baselines.otc.config import BACKBONES, DISTANCES, SAMPLINGS, OTCConfig, variants
from madatasets.errors import MadataError

# Old flag (click parameter name) -> the OTCConfig key it sets.
DEPRECATED_FLAGS = {"deployments": "deployments", "online_steps": "online_steps",
                    "updates_per_deployment": "updates_per_deployment", "alpha": "alpha",
                    "fixed_alpha": "adaptive_alpha"}
OTC_ONLY = ("backbone", "distances", "samplings", *DEPRECATED_FLAGS, "otc_overrides")


def otc_options(command: Callable) -> Callable:
    """The OTC options of `madata bench` (they apply to `madata bench otc` only)."""
    options = [
        click.option("--backbone", type=click.Choice(BACKBONES), default=None,
                     help="otc: offline algorithm tuned online [default: bcq]."),
        click.option("--distance", "distances", type=click.Choice(DISTANCES), multiple=True,
                     help="otc: transition distance of --sampling otc, embedding (d_e) or value (d_q); "
                          "repeat for both [default: embedding]."),
        click.option("--sampling", "samplings", type=click.Choice(SAMPLINGS), multiple=True,
                     help="otc: sampling of the fine-tuning batches; repeat to tune several variants from "
                          "one offline pre-training per seed [default: otc]."),
        click.option("--deployments", type=click.IntRange(min=1), default=None, hidden=True),
        click.option("--online-steps", type=click.IntRange(min=1), default=None, hidden=True),
        click.option("--updates-per-deployment", type=click.IntRange(min=0), default=None, hidden=True),
        click.option("--alpha", type=click.FloatRange(min=0.0), default=None, hidden=True),
        click.option("--fixed-alpha", is_flag=True, default=None, hidden=True),
        click.option("--otc-set", "otc_overrides", multiple=True, metavar="KEY=VALUE", hidden=True),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def reject_otc_options(options: dict[str, Any]) -> None:
    """For any algorithm but otc: no OTC option may be given."""
    given = [name for name in OTC_ONLY if options.get(name) not in (None, (), False)]
    if given:
        flags = {"distances": "distance", "samplings": "sampling", "otc_overrides": "otc-set"}
        flag = flags.get(given[0], given[0])
        raise MadataError(f"--{flag.replace('_', '-')} applies to `madata bench otc` only")


def legacy_assignments(options: dict[str, Any], warn: Callable[[str], None]) -> list[str]:
    """The deprecated flags as `otc.key=value` assignments, with one deprecation line each."""
    assignments = []
    for assignment in options.get("otc_overrides") or ():
        warn(f"--otc-set is deprecated; use --set {assignment}")
        assignments.append(assignment if assignment.startswith("otc.") else f"otc.{assignment}")
    for flag, key in DEPRECATED_FLAGS.items():     # after --otc-set: the flags won over it before, too
        value = options.get(flag)
        if value is None or value is False:
            continue
        text = "false" if flag == "fixed_alpha" else str(value)
        warn(f"--{flag.replace('_', '-')} is deprecated; use --set {key}={text}")
        assignments.append(f"otc.{key}={text}")
    return assignments


def route_assignments(backbone: str, assignments: Sequence[str]) -> tuple[tuple[str, ...], OTCConfig]:
    """Split --set assignments into the backbone's (kept as text for the label) and a validated OTCConfig."""
    backbone_fields = {f.name for f in dataclasses.fields(algorithm_module(backbone).Config)}
    otc_fields = {f.name for f in dataclasses.fields(OTCConfig)}
    mine, protocol = [], []
    for assignment in assignments:
        key = assignment.split("=", 1)[0].strip().replace("-", "_")
        if key.startswith("otc."):
            protocol.append(assignment[assignment.index("otc.") + 4:])
        elif key in backbone_fields:
            mine.append(assignment)
        elif key in otc_fields:
            protocol.append(assignment)
        else:
            raise MadataError(f"unknown hyperparameter {key!r} for otc with backbone {backbone}; valid: "
                              f"{', '.join(sorted(backbone_fields))} (backbone) and "
                              f"{', '.join(sorted(otc_fields))} (OTCConfig, also as otc.<key>)")
    config = OTCConfig()
    config = with_values(config, parse_overrides(config, protocol))
    config.validate()
    return tuple(mine), config


def otc_variants(options: dict[str, Any]) -> list:
    return variants(options.get("samplings") or ("otc",), options.get("distances") or ("embedding",))
