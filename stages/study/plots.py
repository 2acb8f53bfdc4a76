"""Plots for the report: validation curves and quality against parameter count (PNG),
and the mean validation curves as CSV for `dvc plots show`."""

from __future__ import annotations

from pathlib import Path

import matplotlib

from recipes.cells import cell_names
from recipes.kit.contract import better
from stages.study.summary import mean_std

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def color(cell: str) -> str:
    """One colour per registered cell, fixed by its place in the registry (tab10: blue, orange, green, …)."""
    names = cell_names()
    return f"C{names.index(cell) % 10}" if cell in names else "black"


def _mean_band(histories: list[list[dict]]) -> tuple[list[int], list[float], list[float]]:
    """Per-epoch mean and std of valid_metric over the seeds that reached that epoch."""
    epochs, means, stds = [], [], []
    for epoch in range(1, max(len(h) for h in histories) + 1):
        stat = mean_std([h[epoch - 1]["valid_metric"] for h in histories if len(h) >= epoch])
        epochs.append(epoch), means.append(stat["mean"]), stds.append(stat["std"])
    return epochs, means, stds


def _save(fig, ax, path: Path) -> None:
    """Grid, legend and layout shared by every chart; write the PNG and free the figure."""
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_curves_csv(histories: dict[str, list[list[dict]]], path: Path) -> None:
    """Mean validation metric over seeds per epoch, a column per cell (blank after a cell stopped early)."""
    cells = [cell for cell, cell_histories in histories.items() if cell_histories]
    means = {cell: _mean_band(histories[cell])[1] for cell in cells}
    lines = [",".join(["epoch", *cells])]
    for epoch in range(1, max(len(m) for m in means.values()) + 1):
        values = [f"{means[c][epoch - 1]:.6f}" if epoch <= len(means[c]) else "" for c in cells]
        lines.append(",".join([str(epoch), *values]))
    path.write_text("\n".join(lines) + "\n")


def validation_curves(recipe: str, metric: str, direction: str, histories: dict[str, list[list[dict]]],
                      path: Path) -> None:
    """Validation metric per epoch for each cell: mean line and ±1 std band over seeds."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for cell, cell_histories in histories.items():
        if not cell_histories:
            continue
        epochs, means, stds = _mean_band(cell_histories)
        shade = color(cell)
        ax.plot(epochs, means, label=f"{cell} (n={len(cell_histories)})", color=shade)
        ax.fill_between(epochs, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                        color=shade, alpha=0.2)
    ax.set(xlabel="epoch", ylabel=f"validation {metric} ({direction} is better)",
           title=f"{recipe}: validation {metric}")
    _save(fig, ax, path)


def quality_vs_parameters(recipe: str, metric: str, direction: str, summary: dict, path: Path) -> None:
    """Test metric (mean ± std over seeds) against trainable parameters, one point per cell."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for cell, stats in summary.items():
        ax.errorbar(stats["parameters"]["mean"], stats[metric]["mean"], yerr=stats[metric]["std"],
                    fmt="o", capsize=4, color=color(cell), label=cell)
    ax.set(xlabel="trainable parameters", ylabel=f"test {metric} ({direction} is better)",
           title=f"{recipe}: {metric} vs parameters")
    _save(fig, ax, path)


def best_so_far(recipe: str, metric: str, direction: str, tunings: dict[str, dict], path: Path) -> None:
    """Best validation score of the completed trials among the first k, per cell."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for cell, tuned in tunings.items():
        best, xs, ys = None, [], []
        for k, row in enumerate(tuned["table"], start=1):
            if row["state"] == "complete" and (best is None or better(direction, row["valid_score"], best)):
                best = row["valid_score"]
            if best is not None:
                xs.append(k)
                ys.append(best)
        ax.plot(xs, ys, marker="o", label=f"{cell} ({tuned['trials']} trials)", color=color(cell))
    ax.set(xlabel="trials finished", ylabel=f"best validation {metric} so far ({direction} is better)",
           title=f"{recipe}: tuning")
    _save(fig, ax, path)


def expected_best(recipe: str, metric: str, direction: str, curves: dict[str, list[float]], path: Path) -> None:
    """Expected best validation score of n trials against n, one line per cell (stages/study/budget.py)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for cell, curve in curves.items():
        ax.plot(range(1, len(curve) + 1), curve, marker="o", label=cell, color=color(cell))
    ax.set(xlabel="trials (budget)", ylabel=f"expected best validation {metric} ({direction} is better)",
           title=f"{recipe}: which cell wins at which budget")
    _save(fig, ax, path)


def length_generalisation(recipe: str, metric: str, summary: dict, trained_at: int, path: Path) -> None:
    """Test `metric` against the input length (keys `metric@L`), mean ± std over seeds, one line per cell."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for cell, stats in summary.items():
        lengths = sorted(int(key.split("@")[1]) for key in stats if key.startswith(f"{metric}@"))
        means = [stats[f"{metric}@{n}"]["mean"] for n in lengths]
        stds = [stats[f"{metric}@{n}"]["std"] for n in lengths]
        ax.errorbar(lengths, means, yerr=stds, marker="o", capsize=3, color=color(cell), label=cell)
    ax.axvline(trained_at, color="grey", linestyle=":", label=f"trained at T = {trained_at}")
    ax.set_xscale("log", base=2)
    ax.set(xlabel="test input length T (log scale)", ylabel=f"test {metric}",
           title=f"{recipe}: does what was learned hold at other lengths?")
    _save(fig, ax, path)


def gradients_through_time(recipe: str, record: dict, path: Path) -> None:
    """‖∂loss/∂h_t‖ against steps before the sequence's end (log scale): trained solid, initial dashed."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for cell, states in record["cells"].items():
        for state, style in (("trained", "-"), ("initial", "--")):
            norms = states[state]["by_steps_before_end"]
            ax.plot(range(len(norms)), norms, style, color=color(cell), label=f"{cell} ({state})")
    ax.set_yscale("log")
    ax.set(xlabel="steps before the last input step", ylabel="mean ‖∂loss/∂h_t‖ (log scale)",
           title=f"{recipe}: gradient through time (seed {record['seed']}, {record['rows']} validation rows)")
    _save(fig, ax, path)
