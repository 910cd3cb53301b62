"""Independent tabular Q-learning on the MABCQ matrix game's offline datasets (paper Section 3.2.3).

Each agent samples its own dataset with the modified sampling probability of
the corrections in :mod:`baselines.matrix_game` and learns a Q-value per own
action; the learned greedy joint action is compared with the exact one there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines.matrix_game import (
    Correction,
    MatrixGame,
    _normalise_rows,
    perceived_transitions,
    transition_normalization_weights,
    value_deviation_weights,
)

__all__ = ["QLearningResult", "independent_q_learning"]


@dataclass(frozen=True)
class QLearningResult:
    """Outcome of independent tabular Q-learning on the offline datasets."""

    correction: Correction
    joint_action: tuple[int, int]  # greedy action of agent 1 and agent 2, 0-based
    q_values: tuple[np.ndarray, np.ndarray]  # per agent, per own action
    visits: tuple[np.ndarray, np.ndarray]  # updates per own action


def _sampling_weights(
    game: MatrixGame, agent: int, correction: Correction, optimism: float | None
) -> np.ndarray:
    """Modified sampling probability ``lambda_tn * lambda_vd * p_B(a_i, s')`` of Section 3.2.3.

    Writing it as ``p_B(a_i) * z_i(a_i) * P_mod(s'|a_i)`` shows that, given
    ``a_i``, the next state is drawn from the modified transition probability;
    the factor ``z_i`` only rescales how often each own action is updated,
    which leaves the Q-learning fixed point unchanged.
    """
    base = perceived_transitions(game, agent)
    if correction is Correction.NONE:
        lam = np.ones_like(base)
    else:
        if correction is Correction.VD_TN:
            tn = transition_normalization_weights(base)
        else:
            tn = np.ones_like(base)
        # lambda_vd uses the expectation under the distribution it modifies (baselines.matrix_game's docstring).
        target = _normalise_rows(base * tn)
        lam = tn * value_deviation_weights(target, game.agent_payoff(agent), optimism)
    weights = game.behaviour(agent)[:, None] * base * lam
    return weights / weights.sum()


def independent_q_learning(
    game: MatrixGame,
    correction: Correction | str = Correction.NONE,
    *,
    n_samples: int = 10_000,
    learning_rate: float | None = None,
    seed: int = 0,
    optimism: float | None = None,
) -> QLearningResult:
    """Tabular independent Q-learning of both agents on their own offline datasets.

    Each agent draws ``n_samples`` tuples ``(a_i, s', r)`` with the modified
    sampling probability of Section 3.2.3 and applies
    ``Q(a_i) += alpha * (r - Q(a_i))``; the target has no bootstrap term
    because ``s'`` is terminal.  ``learning_rate=None`` uses ``alpha = 1 /
    visits``, so Q is the sample mean and converges to the exact expected
    return, which keeps the learned joint action stable for a modest number of
    samples.  ``lambda_vd`` is computed from the exact tabular values rather
    than from the current Q; for positive payoffs the non-stationary version
    (``E V`` estimated by ``Q(a_i)``) has the same fixed point, because
    ``E_P[(r / Q) * (r - Q)] = 0`` solves to the same ``Q``.  Ties and
    never-sampled actions: greedy picks the lowest-index action among those
    sampled at least once.
    """
    correction = Correction(correction)
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if learning_rate is not None and not 0 < learning_rate <= 1:
        raise ValueError(f"learning_rate must be in (0, 1] or None, got {learning_rate!r}")
    # Independent streams per agent: decentralised learners share no randomness,
    # and one agent's draws do not shift when the other's action count changes.
    streams = np.random.SeedSequence(seed).spawn(2)
    q_tables: list[np.ndarray] = []
    visit_counts: list[np.ndarray] = []
    actions: list[int] = []
    for agent, stream in zip((1, 2), streams):
        rng = np.random.default_rng(stream)
        weights = _sampling_weights(game, agent, correction, optimism)
        rewards = game.agent_payoff(agent)
        n_other = weights.shape[1]
        flat = rng.choice(weights.size, size=n_samples, p=weights.ravel())
        q = np.zeros(weights.shape[0])
        visits = np.zeros(weights.shape[0], dtype=np.int64)
        for idx in flat:
            a, other = divmod(int(idx), n_other)
            visits[a] += 1
            alpha = 1.0 / visits[a] if learning_rate is None else learning_rate
            q[a] += alpha * (rewards[a, other] - q[a])
        actions.append(int(np.argmax(np.where(visits > 0, q, -np.inf))))
        q_tables.append(q)
        visit_counts.append(visits)
    return QLearningResult(
        correction=correction,
        joint_action=(actions[0], actions[1]),
        q_values=(q_tables[0], q_tables[1]),
        visits=(visit_counts[0], visit_counts[1]),
    )
