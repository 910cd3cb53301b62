"""The MABCQ matrix game's Tables 2-4 as plain text: `madata matrix-game`, `python -m baselines.matrix_game_tables`."""

from __future__ import annotations

import numpy as np

from baselines.matrix_game import AgentTable, Correction, MatrixGame, agent_table, greedy_joint_action

__all__ = ["format_tables", "main"]

_TABLE_TITLES = {
    Correction.NONE: "Table 2: Transition probabilities and expected returns "
    "calculated in the dataset.",
    Correction.VD: "Table 3: Transition probabilities and expected returns "
    "calculated in the dataset using only lambda_vd.",
    Correction.VD_TN: "Table 4: Transition probabilities and expected returns "
    "calculated in the dataset using lambda_tn and lambda_vd.",
}


def _action_label(index: int) -> str:
    return f"a{index + 1}"


def _outcome_labels(rewards: np.ndarray, own: int, other_agent: int) -> list[str]:
    row = rewards[own]
    # The paper names next states by their payoff; fall back to the other
    # agent's action when two outcomes of one row share a payoff.
    ambiguous = len(set(row.tolist())) < row.size
    labels = []
    for j, r in enumerate(row):
        outcome = f"{r:g}" if not ambiguous else f"{r:g} [agent {other_agent}: {_action_label(j)}]"
        labels.append(f"p({outcome}|{_action_label(own)})")
    return labels


def _format_agent_table(table: AgentTable) -> list[str]:
    other_agent = 2 if table.agent == 1 else 1
    rows: list[tuple[str, str, str]] = []
    for a in range(table.returns.size):
        labels = _outcome_labels(table.rewards, a, other_agent)
        for j, label in enumerate(labels):
            rows.append(
                (
                    _action_label(a) if j == 0 else "",
                    f"{label} = {table.transitions[a, j]:.2f}",
                    f"{table.returns[a]:.2f}" if j == 0 else "",
                )
            )
    header = ("action", "transition", "expected return")
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(3)]

    def line(cells: tuple[str, str, str]) -> str:
        return f"{cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}  {cells[2]:>{widths[2]}}".rstrip()

    out = [f"Agent {table.agent}", line(header), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in rows)
    return out


def format_tables(game: MatrixGame | None = None, optimism: float | None = None) -> str:
    """Tables 2, 3 and 4 of the paper as plain text (the paper's game by default)."""
    game = MatrixGame.paper() if game is None else game
    blocks = []
    for correction in Correction:
        lines = [_TABLE_TITLES[correction], ""]
        for agent in (1, 2):
            lines.extend(_format_agent_table(agent_table(game, agent, correction, optimism)))
            lines.append("")
        joint = greedy_joint_action(game, correction, optimism)
        lines.append(f"Greedy joint action: ({_action_label(joint[0])}, {_action_label(joint[1])})")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def main() -> None:
    print(format_tables())


if __name__ == "__main__":
    main()
