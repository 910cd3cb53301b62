"""Two-agent matrix game of MABCQ (offline decentralised MARL), Sections 3.1 and 4.1: the game and its exact values.

The paper uses this game to show how the transition probabilities that an
independent agent estimates from its own offline dataset are biased by the other
agent's (poor) behaviour policy, and how value deviation (``lambda_vd``) and
transition normalisation (``lambda_tn``) repair that bias (Tables 1-4).

Modelling choices, where the paper leaves room for interpretation:

* **One-step game.** The game is a single decision followed by a terminal next
  state.  Agent ``i``'s "next state" ``s'`` is the outcome of the joint action,
  i.e. the other agent's action, and the paper labels it by the payoff reached
  (``p(5|a1)`` in Table 2).  Because ``s'`` is terminal, the "value of the next
  state" that enters ``lambda_vd`` is the payoff itself (``r + gamma * 0`` with
  the reward folded into the outcome); the discount never matters.
* **Which expectation ``lambda_vd`` uses.** ``E_{s'} V(s')`` is taken under the
  distribution that ``lambda_vd`` is applied to: ``P_B`` for the ``lambda_vd``
  only case, the ``lambda_tn``-normalised (uniform) distribution for the
  combined case.  This mirrors the paper's estimator ``(Q - r) / gamma``, which
  is computed from a Q trained on the modified data.  For positive payoffs and
  no clipping ``lambda_vd = V(s') / E V`` and the expectation cancels in the
  normalisation, so any of these readings gives the same tables.
* **No clipping.** The deep implementation clips ``lambda_vd`` to
  ``[1 - eps, 1 + eps]`` but no ``eps`` is given for the matrix game, and
  Table 3 is only reproduced without clipping (agent 1's ``a2`` needs
  ``lambda_vd = 2``, beyond the largest ``eps = 0.8`` used in the paper).  So
  clipping is off by default and available through ``optimism``.

Q-learning on the offline datasets is :mod:`baselines.matrix_game_learning`;
the tables as text (``madata matrix-game``) are :mod:`baselines.matrix_game_tables`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

__all__ = [
    "Correction",
    "MatrixGame",
    "AgentTable",
    "perceived_transitions",
    "value_deviation_weights",
    "transition_normalization_weights",
    "modified_transitions",
    "expected_returns",
    "agent_table",
    "greedy_joint_action",
]

# Loose enough for distributions typed as decimals (0.1 + 0.2 + 0.7).
_SUM_TOLERANCE = 1e-6

PAPER_PAYOFF = ((1.0, 5.0), (6.0, 1.0))
PAPER_BEHAVIOUR_1 = (0.8, 0.2)
PAPER_BEHAVIOUR_2 = (0.4, 0.6)


class Correction(str, Enum):
    """Which importance weights modify the dataset's transition probabilities."""

    NONE = "none"  # Table 2: plain P_B, i.e. BCQ-style independent learning
    VD = "vd"  # Table 3: lambda_vd only (MABCQ w/o lambda_tn)
    VD_TN = "vd+tn"  # Table 4: lambda_tn * lambda_vd (full MABCQ)



def _as_distribution(values: object, name: str) -> np.ndarray:
    dist = np.asarray(values, dtype=float)
    if dist.ndim != 1 or dist.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D probability vector, got shape {dist.shape}"
        )
    if not np.all(np.isfinite(dist)):
        raise ValueError(f"{name} must contain only finite numbers, got {dist.tolist()}")
    if np.any(dist < 0):
        raise ValueError(f"{name} must be non-negative, got {dist.tolist()}")
    total = float(dist.sum())
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise ValueError(f"{name} must sum to 1, got {dist.tolist()} (sum {total:g})")
    return dist


def _check_agent(agent: int) -> None:
    if agent not in (1, 2):
        raise ValueError(f"agent must be 1 or 2, got {agent!r}")


@dataclass(frozen=True, eq=False)
class MatrixGame:
    """A cooperative two-agent one-step game and the behaviour policies that made the data.

    ``payoff[a1, a2]`` is the shared reward when agent 1 plays ``a1`` (rows) and
    agent 2 plays ``a2`` (columns).  ``behaviour_1`` and ``behaviour_2`` are the
    action distributions of the agents' behaviour policies, which are
    independent of each other, as in the paper's dataset collection.
    """

    payoff: np.ndarray
    behaviour_1: np.ndarray
    behaviour_2: np.ndarray

    def __post_init__(self) -> None:
        b1 = _as_distribution(self.behaviour_1, "behaviour_1")
        b2 = _as_distribution(self.behaviour_2, "behaviour_2")
        payoff = np.asarray(self.payoff, dtype=float)
        if payoff.shape != (b1.size, b2.size):
            raise ValueError(
                f"payoff must have shape (len(behaviour_1), len(behaviour_2)) = "
                f"({b1.size}, {b2.size}), got {payoff.shape}"
            )
        if not np.all(np.isfinite(payoff)):
            raise ValueError("payoff must contain only finite numbers")
        # Read-only copies so a game cannot change under cached tables.
        for name, arr in (("payoff", payoff), ("behaviour_1", b1), ("behaviour_2", b2)):
            arr = arr.copy()
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @classmethod
    def paper(cls) -> MatrixGame:
        """The game of the paper's Table 1."""
        return cls(
            payoff=np.array(PAPER_PAYOFF),
            behaviour_1=np.array(PAPER_BEHAVIOUR_1),
            behaviour_2=np.array(PAPER_BEHAVIOUR_2),
        )

    def behaviour(self, agent: int) -> np.ndarray:
        """Behaviour action distribution of ``agent`` (1 or 2)."""
        _check_agent(agent)
        return self.behaviour_1 if agent == 1 else self.behaviour_2

    def agent_payoff(self, agent: int) -> np.ndarray:
        """Payoff from ``agent``'s point of view: rows are its own actions, columns the other's."""
        _check_agent(agent)
        return self.payoff if agent == 1 else self.payoff.T

    def n_actions(self, agent: int) -> int:
        return int(self.behaviour(agent).size)


def perceived_transitions(game: MatrixGame, agent: int) -> np.ndarray:
    """``P_Bi(s'|a_i)`` as agent ``i`` estimates it from its own dataset.

    Returns an array ``[own action, other agent's action]``.  Agent ``i`` does
    not see the other agent's action, so it experiences the other agent as part
    of the environment: with independent behaviour policies the count estimator
    ``num(a_i, s') / num(a_i)`` converges to the other agent's behaviour
    distribution, identically for every own action.  (For an own action the
    behaviour policy never takes, the count estimator is undefined; the
    marginal is reported anyway, and Q-learning never sees that action.)
    """
    _check_agent(agent)
    other = game.behaviour(2 if agent == 1 else 1)
    return np.tile(other, (game.n_actions(agent), 1))


def value_deviation_weights(
    probs: np.ndarray, values: np.ndarray, optimism: float | None = None
) -> np.ndarray:
    """``lambda_vd = 1 + (V(s') - E V) / |E V|`` per row of ``probs``.

    ``probs[a, s']`` is the distribution the weight will be applied to and
    ``values[a, s']`` the next-state values.  ``optimism`` is the paper's
    ``eps``: when given, the weights are clipped to ``[1 - eps, 1 + eps]``.
    Raises ``ValueError`` where the weight is undefined (``E V = 0``) or
    negative, which cannot be turned into probabilities; the paper avoids both
    by assuming positive rewards (Theorem 1) and clipping.
    """
    probs = np.asarray(probs, dtype=float)
    values = np.asarray(values, dtype=float)
    if probs.shape != values.shape or probs.ndim != 2:
        raise ValueError(
            f"probs and values must be 2-D of the same shape, got {probs.shape} and {values.shape}"
        )
    if optimism is not None and not optimism >= 0:
        raise ValueError(f"optimism must be >= 0, got {optimism!r}")
    mean = np.sum(probs * values, axis=1, keepdims=True)
    if np.any(mean == 0):
        raise ValueError(
            "value deviation is undefined when the expected next-state value is 0; "
            "shift the payoffs to be positive (the paper assumes rewards in a positive range)"
        )
    weights = 1.0 + (values - mean) / np.abs(mean)
    if optimism is not None:
        weights = np.clip(weights, 1.0 - optimism, 1.0 + optimism)
    # Only outcomes that occur matter: a negative weight on an unseen outcome is harmless.
    if np.any(weights[probs > 0] < 0):
        raise ValueError(
            "value deviation gives a negative weight; use positive payoffs or clip with optimism < 1"
        )
    return weights


def transition_normalization_weights(probs: np.ndarray) -> np.ndarray:
    """``lambda_tn = 1 / P_B(s'|a)`` on observed next states, 0 elsewhere.

    After multiplying by ``P_B`` and dividing by ``z_tn`` (the number of distinct
    observed ``s'``) the distribution is uniform over what the dataset contains;
    unseen next states stay impossible because they are not in ``B_i``.
    """
    probs = np.asarray(probs, dtype=float)
    weights = np.zeros_like(probs)
    seen = probs > 0
    weights[seen] = 1.0 / probs[seen]
    return weights


def _normalise_rows(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum(axis=1, keepdims=True)


def modified_transitions(
    game: MatrixGame,
    agent: int,
    correction: Correction | str = Correction.NONE,
    optimism: float | None = None,
) -> np.ndarray:
    """Agent ``i``'s transition probabilities ``[own action, other's action]`` under ``correction``.

    ``NONE``: ``P_B``.  ``VD``: ``P_B * lambda_vd / z_vd``.  ``VD_TN``:
    ``P_B * lambda_tn * lambda_vd / z``, evaluated as ``lambda_vd`` applied to the
    ``lambda_tn``-normalised distribution (see the module docstring for why the
    expectation inside ``lambda_vd`` is taken there).
    """
    correction = Correction(correction)
    probs = perceived_transitions(game, agent)
    if correction is Correction.NONE:
        return probs
    if correction is Correction.VD_TN:
        probs = _normalise_rows(probs * transition_normalization_weights(probs))
    values = game.agent_payoff(agent)
    return _normalise_rows(probs * value_deviation_weights(probs, values, optimism))


def expected_returns(
    game: MatrixGame,
    agent: int,
    correction: Correction | str = Correction.NONE,
    optimism: float | None = None,
) -> np.ndarray:
    """Agent ``i``'s expected return per own action: ``sum_s' P(s'|a_i) * r(a_i, s')``."""
    probs = modified_transitions(game, agent, correction, optimism)
    return np.sum(probs * game.agent_payoff(agent), axis=1)


@dataclass(frozen=True)
class AgentTable:
    """One agent's half of a paper table."""

    agent: int
    transitions: np.ndarray  # [own action, other agent's action]
    rewards: np.ndarray  # payoff of each outcome, same layout as transitions
    returns: np.ndarray  # [own action]


def agent_table(
    game: MatrixGame,
    agent: int,
    correction: Correction | str = Correction.NONE,
    optimism: float | None = None,
) -> AgentTable:
    """Transition probabilities and expected returns of ``agent`` under ``correction``."""
    return AgentTable(
        agent=agent,
        transitions=modified_transitions(game, agent, correction, optimism),
        rewards=game.agent_payoff(agent).copy(),
        returns=expected_returns(game, agent, correction, optimism),
    )


def greedy_joint_action(
    game: MatrixGame,
    correction: Correction | str = Correction.NONE,
    optimism: float | None = None,
) -> tuple[int, int]:
    """Joint action (0-based) that independent agents converge to with exact values.

    Only actions present in each agent's dataset are eligible, as in BCQ.
    """
    actions = []
    for agent in (1, 2):
        returns = expected_returns(game, agent, correction, optimism)
        returns = np.where(game.behaviour(agent) > 0, returns, -np.inf)
        actions.append(int(np.argmax(returns)))
    return actions[0], actions[1]
