"""OTC: online tuning of decentralized policies learned offline (Algorithm 1 of the OTC paper).

Protocol, per agent i (all agents at once, but each on its own data only):
  1. train the backbone (bcq | awac | mabcq) offline on B_i^0 = load(id).agent(i);
  2. for k = 1..K deployments:
     - the current joint policies act in the scenario for M environment steps; agent i's
       online dataset D_i^k holds (s, o_i, a_i, r_i, s', o_i', done) with its OWN action only;
     - B_i^k = B_i^(k-1) U D_i^k;
     - (otc sampling, k > 1) adapt alpha_i by Eq. 9;
     - L fine-tuning updates, each on a 128-transition batch chosen by the sampling variant
       (baselines/otc/tuner.py);
     - evaluate the joint policy: the normalized score after deployment k.

Sampling variants (`sampling`):
  otc          minibatch B (512) of B_i^k and D (<= 2000) of D_i^k, best match + rank-based
               prioritization with distance `embedding` (d_e) or `value` (d_q), baselines/otc/sampling.py;
  uniform      128 uniformly from B_i^k (the paper's BCQ / AWAC rows: the merged data, Nair et al. 2020);
  online-only  128 uniformly from all online data collected so far (D_i^1 U ... U D_i^k);
  balanced     Balanced Replay: 128 from B (512) of B_i^k with probability proportional to the
               estimated density ratio d_online / d_offline of (s, a_i).

Accounting: a run records K, M, L, the online environment steps used (K * M) and the
score after every deployment (deployment 0 is the offline policy). Several variants can
run from ONE offline pre-training per seed (`run_otc` with several `variants`): every
variant starts from a copy of the same pre-trained agents and from the same tuning
random stream, so a variant's result does not depend on which others ran beside it.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from baselines.algorithms import algorithm_module
from baselines.bench import check_budget, open_dataset
from baselines.configure import build_config
from baselines.core.config import seed_everything
from baselines.core.decentralized import DecentralizedAlgorithm
from baselines.core.replay import PerAgentReplay
from baselines.core.vae import StackedConditionalVAE
from baselines.evaluation import Evaluator
from baselines.otc.config import (BACKBONES, ONLINE_STREAM, TABLE3, TUNING_STREAM, OTCConfig, Variant,
                                  online_reset_seeds, stream_generator)
from baselines.otc.online import collect_online
from baselines.otc.tuner import OnlineTuner, fit_embedding_model
from baselines.results import (dataset_record, machine_info, now, run_directory, versions, write_manifest,
                               write_run)
from madatasets.dataset import AgentDataset
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioEnv, get_spec, make


@dataclass
class OTCRunSpec:
    """One OTC run: a dataset, a backbone, a seed, and the variants tuned from the same offline policies."""

    dataset_id: str
    backbone: str = "bcq"
    variants: tuple[Variant, ...] = (Variant("otc", "embedding"),)
    seed: int = 0
    updates: int = 10_000                  # offline pre-training updates
    eval_episodes: int = 32
    preset: str = "paper"
    overrides: tuple[str, ...] = ()        # backbone hyperparameters (--set)
    otc: OTCConfig = field(default_factory=OTCConfig)
    out_dir: str = "results"
    store: str | None = None
    threads: int = 1
    command: str = ""
    log: Callable[[str], None] | None = None
    requested_seeds: tuple[int, ...] = ()   # every seed of the bench this run belongs to (its manifest)


def variant_label(spec: OTCRunSpec, config: OTCConfig, variant: Variant) -> str:
    """e.g. otc[bcq,embedding,K10,M1000,L4000] or otc[awac,uniform,K5,M1000,L500,set=...]."""
    parts = [spec.backbone, variant.name]
    if variant.sampling == "otc":
        if not config.adaptive_alpha:
            parts.append("fixed-alpha")
        if config.alpha != 1.0:
            parts.append(f"alpha={config.alpha:g}")
    parts += [f"K{config.deployments}", f"M{config.online_steps}", f"L{config.updates_per_deployment}"]
    if spec.preset != "paper":
        parts.append(spec.preset)
    parts += sorted(spec.overrides)
    return "otc[" + ",".join(parts) + "]"


def check_spec(spec: OTCRunSpec) -> None:
    if spec.backbone not in BACKBONES:
        raise MadataError(f"unknown --backbone {spec.backbone!r}; valid: {', '.join(BACKBONES)}")
    check_budget(spec.updates, spec.eval_episodes, spec.preset)
    if not spec.variants:
        raise MadataError("no sampling variant requested")
    spec.otc.validate()


def backbone_config(spec: OTCRunSpec) -> tuple[Any, list[str]]:
    """The backbone's own paper preset, then OTC's Table 3 (under `paper`), then the user's --set."""
    table3 = TABLE3[spec.backbone] if spec.preset == "paper" else {}
    return build_config(spec.backbone, spec.dataset_id, spec.preset, "decentralized", spec.overrides, table3)


def run_otc(spec: OTCRunSpec) -> list[dict[str, Any]]:
    """Pre-train offline once, then run every variant's K deployments; writes one results file per variant."""
    check_spec(spec)
    log = spec.log or (lambda message: None)
    torch.set_num_threads(spec.threads)
    started = time.perf_counter()
    config, notes = backbone_config(spec)
    dataset = open_dataset(spec.dataset_id, spec.store)
    offline = [dataset.agent(i) for i in range(dataset.n_agents)]
    otc = spec.otc.resolved(spec.backbone, min(len(agent) for agent in offline))
    scenario = dataset.spec.name

    total_updates = spec.updates + otc.deployments * otc.updates_per_deployment
    for variant in spec.variants:
        label = variant_label(spec, otc, variant)
        write_manifest(run_directory(spec.out_dir, spec.dataset_id, label), spec.dataset_id, label, total_updates,
                       sorted({spec.seed, *spec.requested_seeds}), spec.command)

    # 1. offline pre-training on B_i^0 (shared by every variant)
    generator = seed_everything(spec.seed)
    replay = PerAgentReplay(offline, config.observation)
    algorithm = algorithm_module(spec.backbone).Algorithm(config, dataset.spec, generator,
                                                          replay.observation_statistics())
    pretrain_info = algorithm.pretrain(replay, generator)
    offline_losses: dict[str, float] = {}
    for _ in range(spec.updates):
        offline_losses = algorithm.update(replay.sample(config.batch_size, generator))
    embedding_model, embedding_loss = None, None
    if any(v.distance == "embedding" for v in spec.variants):
        embedding_model, embedding_loss = fit_embedding_model(algorithm, replay, otc, spec.seed)
    pretrain_seconds = time.perf_counter() - started
    log(f"pre-trained {spec.backbone} on {spec.dataset_id} seed {spec.seed} in {pretrain_seconds:.0f}s")

    evaluator = Evaluator(scenario, spec.eval_episodes, spec.seed)
    references = dataset.card.get("reference_scores", {})   # the dataset's own, as made
    offline_point = evaluator.point(algorithm, references)
    envs = [make(scenario) for _ in range(otc.online_envs)]
    results = []
    try:
        for variant in spec.variants:
            results.append(_run_variant(spec, otc, variant, algorithm, embedding_model, offline, evaluator, envs,
                                        offline_point, dict(offline_losses), references, log))
    finally:
        for env in envs:
            env.close()
        evaluator.close()

    written = []
    for variant, (curve, deployments, tuned, seconds) in zip(spec.variants, results):
        label = variant_label(spec, otc, variant)
        checkpoint = {"algorithm": spec.backbone, "config": config.to_dict(), "dataset_id": spec.dataset_id,
                      "scenario": scenario, "scenario_version": dataset.spec.version, "seed": spec.seed,
                      "updates": total_updates, "reference_scores": references, "policy": tuned.state_dict()}
        result = {
            "label": label, "algorithm": "otc", "backbone": spec.backbone, "critic": "decentralized",
            "preset": spec.preset, "overrides": list(spec.overrides), "config": config.to_dict(),
            "preset_notes": notes, "dataset": dataset_record(dataset),
            "seed": spec.seed, "updates": total_updates, "eval_every": otc.updates_per_deployment,
            "eval_episodes": spec.eval_episodes, "reference_scores": references,
            "normalized_available": {"random", "expert"} <= references.keys(),
            "curve": curve,
            "final": {key: curve[-1][key] for key in ("update", "mean_return", "std_return", "normalized", "returns")},
            "diverged_at": next((p["update"] for p in curve if not all(np.isfinite(v) for v in p["losses"].values())),
                                None),
            "pretrain": pretrain_info,
            "otc": {"sampling": variant.sampling, "distance": variant.distance, "K": otc.deployments,
                    "M": otc.online_steps, "L": otc.updates_per_deployment,
                    "online_steps_used": sum(d["online_steps"] for d in deployments),
                    "offline_pretraining_updates": spec.updates, "offline_size": [len(a) for a in offline],
                    "normalized_after_deployment": [p["normalized"] for p in curve],
                    "return_after_deployment": [p["mean_return"] for p in curve],
                    "deployments": deployments,
                    "config": {**asdict(otc), "embedding_hidden": list(otc.embedding_hidden)},
                    "embedding_pretrain_loss": embedding_loss if variant.distance == "embedding" else None},
            "wall_time_s": pretrain_seconds + seconds,
            "profile": {"pretrain_s": pretrain_seconds, "tuning_s": seconds},
            "versions": versions(get_spec(scenario).package_versions()),
            "machine": machine_info(spec.threads), "command": spec.command, "created": now(),
        }
        path = write_run(run_directory(spec.out_dir, spec.dataset_id, label), spec.seed, result, checkpoint)
        written.append(result | {"checkpoint": path.with_suffix(".pt").name, "path": str(path)})
    return written


def _run_variant(spec: OTCRunSpec, otc: OTCConfig, variant: Variant, pretrained: DecentralizedAlgorithm,
                 embedding_model: StackedConditionalVAE | None, offline: list[AgentDataset], evaluator: Evaluator,
                 envs: list[ScenarioEnv], offline_point: dict[str, Any], offline_losses: dict[str, float],
                 references: dict[str, float], log: Callable[[str], None]) -> tuple[list, list, Any, float]:
    """K deployments of one variant from a copy of the pre-trained agents; returns the curve and records."""
    tick = time.perf_counter()
    algorithm = copy.deepcopy(pretrained)
    generator = stream_generator(spec.seed, TUNING_STREAM)
    algorithm.generator = generator
    tuner = OnlineTuner(algorithm, offline, otc, variant, generator,
                        copy.deepcopy(embedding_model) if variant.distance == "embedding" else None, spec.seed)
    acting = stream_generator(spec.seed, ONLINE_STREAM)
    reset_seeds = online_reset_seeds(spec.seed)

    def act(observations: np.ndarray, states: np.ndarray) -> np.ndarray:
        return algorithm.explore(observations, states, acting)

    curve = [{"update": spec.updates, "deployment": 0, "online_steps": 0, "losses": offline_losses,
              **offline_point}]
    deployments: list[dict[str, Any]] = []
    used = 0
    for k in range(1, otc.deployments + 1):
        online, rollout_info = collect_online(envs, act, otc.online_steps, reset_seeds, algorithm.n_agents)
        used += len(online[0])
        info = tuner.add_deployment(online)
        losses = tuner.tune(otc.updates_per_deployment)
        point = evaluator.point(algorithm, references)
        curve.append({"update": spec.updates + k * otc.updates_per_deployment, "deployment": k, "online_steps": used,
                      "losses": losses, **point})
        deployments.append({"deployment": k, "online_steps": len(online[0]), **rollout_info, **info})
        score = point["normalized"] if point["normalized"] is not None else point["mean_return"]
        log(f"  {variant.name} deployment {k}/{otc.deployments}: score {score:.2f}"
            + (f", alpha {[round(a, 3) for a in info['alpha']]}" if "alpha" in info else ""))
    return curve, deployments, algorithm, time.perf_counter() - tick
