"""Do the tiers of a scenario mean what D4RL means? Ordering and medium's share of the span.

On every scenario, in mean return: random < medium-replay < medium < medium-expert <
expert, and medium between 25% and 60% of the random-to-expert span (D4RL: medium
is a policy of "about a third" of expert's return). Means come from the datasets'
cards; each is shown with its 95% confidence interval (1.96 standard errors over
the dataset's complete episodes), and the span from the card's reference scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

TIER_ORDER = ("random", "medium-replay", "medium", "medium-expert", "expert")
MEDIUM_SHARE = (0.25, 0.60)


@dataclass(frozen=True)
class TierReturn:
    mean: float
    std: float
    episodes: int

    @property
    def ci95(self) -> float:
        return 1.96 * self.std / math.sqrt(self.episodes) if self.episodes > 1 else float("inf")

    @staticmethod
    def from_card(card: dict[str, Any]) -> "TierReturn":
        returns = card["returns"]
        return TierReturn(float(returns["mean"]), float(returns["std"]), int(returns["episodes"]))


def span_share(value: float, random: float, expert: float) -> float:
    return (value - random) / (expert - random)


def check_tiers(tiers: dict[str, TierReturn], random: float, expert: float) -> list[str]:
    """Problems with the tiers present (an empty list: they order and medium sits in its band)."""
    problems = []
    if not expert > random:
        return [f"the expert reference ({expert:.4g}) does not exceed the random reference ({random:.4g})"]
    present = [tier for tier in TIER_ORDER if tier in tiers]
    for lower, upper in zip(present, present[1:]):
        if not tiers[lower].mean < tiers[upper].mean:
            problems.append(f"{lower} ({tiers[lower].mean:.4g}) is not below {upper} ({tiers[upper].mean:.4g})")
    if "medium" in tiers:
        share = span_share(tiers["medium"].mean, random, expert)
        low, high = MEDIUM_SHARE
        if not low <= share <= high:
            problems.append(f"medium sits at {100 * share:.1f}% of the random-to-expert span, "
                            f"outside {100 * low:.0f}-{100 * high:.0f}%")
    return problems


def tier_rows(tiers: dict[str, TierReturn], random: float, expert: float) -> list[dict[str, Any]]:
    """One row per tier present: mean, 95% CI, share of the span, and whether the CI separates it from the next."""
    present = [tier for tier in TIER_ORDER if tier in tiers]
    rows = []
    for k, tier in enumerate(present):
        value = tiers[tier]
        row = {"tier": tier, "mean": value.mean, "ci95": value.ci95, "episodes": value.episodes,
               "share": span_share(value.mean, random, expert)}
        if k + 1 < len(present):
            upper = tiers[present[k + 1]]
            row["separated_from_next"] = value.mean + value.ci95 < upper.mean - upper.ci95
        rows.append(row)
    return rows
