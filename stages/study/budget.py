"""Which cell wins at a given tuning budget: the expected best score of n trials (Dodge et al. 2019,
"Show Your Work"), computed exactly from the finished trials' scores.

Draw n of the N finished trials at random (without replacement, as a smaller study would have run
n of them): with the scores sorted v_(1) ≤ … ≤ v_(N), the i-th smallest is the best of the n drawn
with probability C(i−1, n−1) / C(N, n), so E[best of n] = Σ_i v_(i) C(i−1, n−1) / C(N, n). n = 1 gives
the mean, n = N the best. For a lower-is-better metric the order is reversed.
"""

from __future__ import annotations

from math import comb

from recipes.kit.contract import HIGHER


def expected_best(scores: list[float], n: int, direction: str = HIGHER) -> float:
    """Expected best of `n` trials drawn from `scores` (1 ≤ n ≤ len(scores)), best in `direction`."""
    if not 1 <= n <= len(scores):
        raise ValueError(f"n must be from 1 to {len(scores)}, got {n}")
    ordered = sorted(scores, reverse=direction != HIGHER)  # worst first
    total = comb(len(ordered), n)
    return sum(v * comb(i, n - 1) for i, v in enumerate(ordered)) / total


def expected_best_curve(scores: list[float], direction: str = HIGHER) -> list[float]:
    """expected_best for n = 1 … len(scores)."""
    return [expected_best(scores, n, direction) for n in range(1, len(scores) + 1)]


def ranking_changes(curves: dict[str, list[float]], direction: str = HIGHER) -> list[dict]:
    """Each budget n at which the order of the cells by expected best differs from the order at n − 1."""
    budgets = min(len(c) for c in curves.values())
    changes, previous = [], None
    for n in range(1, budgets + 1):
        order = sorted(curves, key=lambda cell: curves[cell][n - 1], reverse=direction == HIGHER)
        if previous is not None and order != previous:
            changes.append({"trials": n, "before": previous, "after": order})
        previous = order
    return changes
