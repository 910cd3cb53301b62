"""The zoo's docs/zoo.md tables and learning-curve plots, from the zoo index and the registry's reference
scores (`madata zoo --markdown`, `--curves`)."""

from __future__ import annotations

from pathlib import Path

from madatasets.scenarios import get_spec


def _steps(step: int) -> str:
    return f"{step / 1000:g}k"


def zoo_markdown(index: dict) -> str:
    """The tables of docs/zoo.md, from the zoo index and the registry's reference scores."""
    from collectors.behavior import ROLES
    from collectors.yardsticks import LITERATURE
    from madatasets.scores import normalized_score
    lines = [f"Zoo version {index.get('zoo_version', 0)}.", "",
             "| scenario | algorithm | training steps | train wall time | seed | role | at step | "
             "return (reference episodes: 100, MPE 1,000; deterministic) | normalized | sha256 (first 16) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    references = ["| scenario | random | scripted yardstick | zoo expert (reference) | expert's share of "
                  "random-to-scripted | medium-replay buffer (steps / episodes) | training command |",
                  "|---|---|---|---|---|---|---|"]
    literature = ["| scenario | yardstick | return | source |", "|---|---|---|---|"]
    curves = []
    smax = ["| scenario | algorithm | training steps | train wall time | seed | role | at step | win rate "
            "(1,000 ep., greedy) | return | sha256 (first 16) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for scenario, entry in index["scenarios"].items():
        if entry["algorithm"] == "smax-mappo":
            for role in ROLES:
                policy = entry["policies"][role]
                smax.append(f"| {scenario} | {entry['algorithm']} | {entry['training_steps']:,} | "
                            f"{entry['train_wall_seconds'] / 60:.1f} min | {entry['seed']} | {role} | "
                            f"{policy['step']:,} | {policy['win_rate']:.3f} | {policy['return_mean']:.3f} +- "
                            f"{policy['return_std']:.3f} | `{policy['sha256'][:16]}` |")
            points = ", ".join(f"{_steps(c['step'])}: {c['win_rate']:.2f}" for c in entry["checkpoints"])
            curves.append(f"- {scenario} (periodic win rate): {points}")
            continue
        details = get_spec(scenario).reference_details
        scores = {tier: info["mean"] for tier, info in details.items()}
        for role in ROLES:
            policy = entry["policies"][role]
            normalized = (f"{normalized_score(scenario, policy['return_mean']):.1f}"
                          if "expert" in scores and "random" in scores else "-")
            lines.append(f"| {scenario} | {entry['algorithm']} | {entry['training_steps']:,} | "
                         f"{entry['train_wall_seconds'] / 60:.1f} min | {entry['seed']} | {role} | "
                         f"{policy['step']:,} | {policy['return_mean']:.2f} +- {policy['return_std']:.2f} | "
                         f"{normalized} | `{policy['sha256'][:16]}` |")

        def shown(tier: str) -> str:
            info = details.get(tier)
            if info is None:
                return "-"
            stderr = f" +- {info['stderr']:.2f}" if "stderr" in info else ""
            return f"{info['mean']:.2f}{stderr} ({info.get('episodes', '?')} ep.)"
        share = "-"
        if {"random", "scripted", "expert"} <= scores.keys():
            share = f"{100 * (scores['expert'] - scores['random']) / (scores['scripted'] - scores['random']):.0f}%"
        replay = entry["medium_replay"]
        extra = replay.get("extra_runs", [])
        steps = replay["steps"] + sum(run["stop_step"] for run in extra)
        episodes = replay["episodes"] + sum(run["episodes"] for run in extra)
        seeds = f" (seeds {', '.join(str(s) for s in [entry['seed']] + [r['seed'] for r in extra])})" if extra else ""
        references.append(f"| {scenario} | {shown('random')} | {shown('scripted')} | {shown('expert')} | {share} | "
                          f"{steps:,} / {episodes:,}{seeds} | `{entry['command']}` |")
        for name, value, source in LITERATURE.get(scenario, []):
            literature.append(f"| {scenario} | {name} | {value:,.0f} | {source} |")
        points = ", ".join(f"{_steps(c['step'])}: {c['eval_mean']:.1f}" for c in entry["checkpoints"])
        curves.append(f"- {scenario}: {points}")
    note = ("Periodic evaluations (step: mean of the periodic evaluation episodes; a snapshot "
            "taken before the first update comes first):")
    smax_part = ["", "SMAX (docs/smax.md):", ""] + smax if len(smax) > 2 else []
    return "\n".join(lines + smax_part + [""] + references + ["", "Published figures on the same robots (perspective "
                                                  "only: other MuJoCo versions, partitions or single-agent control):",
                                                  ""] + literature + ["", note, ""] + curves)


def plot_curves(index: dict, folder: Path) -> list[Path]:
    """One PNG per scenario: periodic evaluation vs training step, with the reference lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for scenario, entry in index["scenarios"].items():
        figure, axis = plt.subplots(figsize=(5, 3.2), dpi=100)
        points = [c for c in entry["checkpoints"] if c.get("eval_mean") is not None]
        axis.plot([c["step"] for c in points], [c["eval_mean"] for c in points], marker=".", label="periodic eval")
        if entry["algorithm"] == "smax-mappo":
            wins = axis.twinx()
            wins.plot([c["step"] for c in points], [c["win_rate"] for c in points], color="tab:green",
                      linewidth=1, label="win rate")
            wins.set_ylim(0, 1)
            wins.set_ylabel("win rate", fontsize=8)
            wins.tick_params(labelsize=7)
        for role, marker in (("medium", "s"), ("expert", "*")):
            policy = entry["policies"][role]
            axis.plot([policy["step"]], [policy["return_mean"]], marker, markersize=9,
                      label=f"{role} ({policy.get('episodes', 100)} ep.)")
        scores = get_spec(scenario).reference_scores
        for tier, style in (("random", ":"), ("scripted", "-.")):
            if tier in scores:
                axis.axhline(scores[tier], linestyle=style, color="gray", linewidth=1, label=tier)
        axis.set_title(f"{scenario} ({entry['algorithm']}, zoo v{entry.get('zoo_version', 0)})", fontsize=9)
        axis.set_xlabel("environment steps", fontsize=8)
        axis.set_ylabel("return", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.legend(fontsize=6, loc="best")
        figure.tight_layout()
        path = folder / f"{scenario}.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    return written
