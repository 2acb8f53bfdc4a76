"""The markdown report: a table per recipe, then the seed document's claims checked."""

from __future__ import annotations

import math

from scipy.stats import ttest_ind

CELL_ORDER = ("rnn", "gru", "lstm")


def fmt(stat: dict, digits: int = 3) -> str:
    """`mean ± std` of a {mean, std, n} entry."""
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def recipe_table(summary: dict, quality: list[str]) -> str:
    """One row per cell: size, parameters, quality mean ± std, time, throughput, best epoch."""
    head = ["cell", "n", "hidden", "parameters", *quality, "train s", "s/epoch", "examples/s", "best epoch"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cell in [c for c in CELL_ORDER if c in summary]:
        s = summary[cell]
        row = [cell, str(s["parameters"]["n"]), f"{s['hidden_size']['mean']:.0f}", f"{s['parameters']['mean']:,.0f}",
               *(fmt(s[q]) for q in quality), f"{s['train_seconds']['mean']:.1f}",
               f"{s['seconds_per_epoch']['mean']:.2f}", f"{s['examples_per_s']['mean']:,.0f}",
               fmt(s["best_epoch"], 1)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def overview(summaries: dict[str, dict], headlines: dict[str, str]) -> str:
    """One row per recipe: the headline test metric of every cell, mean ± std."""
    lines = ["| recipe | metric | " + " | ".join(CELL_ORDER) + " |", "|---|---|" + "---|" * len(CELL_ORDER)]
    for name, summary in summaries.items():
        metric = headlines[name]
        cells = [fmt(summary[c][metric]) if c in summary else "—" for c in CELL_ORDER]
        lines.append(f"| {name} | test {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ordered(summary: dict, key: str) -> tuple[bool, str]:
    cells = [c for c in CELL_ORDER if c in summary]
    values = [summary[c][key]["mean"] for c in cells]
    spec = ",.0f" if key == "parameters" else ".3g"
    text = " < ".join(f"{c} {v:{spec}}" for c, v in zip(cells, values))
    return all(a < b for a, b in zip(values, values[1:])), text


def claim_complexity(summary: dict, matched: bool) -> str:
    """Claim 1: parameters and time per epoch grow RNN < GRU < LSTM."""
    params_ok, params_text = _ordered(summary, "parameters")
    time_ok, time_text = _ordered(summary, "seconds_per_epoch")
    params_verdict = "holds" if params_ok else "does not hold"
    if matched:
        params_verdict = "matched by design (compare_by: params)"
    return (f"- parameters: **{params_verdict}** ({params_text})\n"
            f"- seconds per epoch: **{'holds' if time_ok else 'does not hold'}** ({time_text})")


def welch(a: list[float], b: list[float]) -> float:
    """Two-sided Welch's t-test p-value (nan when both samples are constant)."""
    p = ttest_ind(a, b, equal_var=False).pvalue
    return float(p) if p == p else math.nan


def claim_gated(runs: dict, metric: str) -> str:
    """Claim 2: gated cells beat the vanilla RNN on the headline test metric."""
    if "rnn" not in runs:
        return "- no rnn runs to compare against"
    base = [r["test"][metric] for r in runs["rnn"]]
    lines = []
    for cell in [c for c in ("gru", "lstm") if c in runs]:
        gated = [r["test"][metric] for r in runs[cell]]
        diff = sum(gated) / len(gated) - sum(base) / len(base)
        if min(len(gated), len(base)) < 3:
            verdict, p_text = "not enough seeds", f"n={len(gated)} vs {len(base)}, need ≥ 3"
        else:
            p = welch(gated, base)
            p_text = f"Welch p = {p:.3g}"
            verdict = "holds" if diff > 0 and p < 0.05 else ("not significant" if diff > 0 or p >= 0.05 else "reversed")
        lines.append(f"- {cell} vs rnn: **{verdict}** (Δ {metric} = {diff:+.3f}; {p_text})")
    return "\n".join(lines)


def epochs_to_95(history: list[dict]) -> int:
    """First epoch whose validation score reaches 95 % of the run's best."""
    best = max(row["valid_metric"] for row in history)
    return next(int(row["epoch"]) for row in history if row["valid_metric"] >= 0.95 * best)


def claim_trainability(histories: dict[str, list[list[dict]]]) -> str:
    """Claim 3: epochs each cell needs to reach 95 % of its own best validation score
    (shown with that best: a cell whose best is near zero reaches it at once, having learned nothing)."""
    lines = []
    for cell in [c for c in CELL_ORDER if histories.get(c)]:
        counts = [epochs_to_95(h) for h in histories[cell]]
        bests = [max(row["valid_metric"] for row in h) for h in histories[cell]]
        lines.append(f"- {cell}: {sum(counts) / len(counts):.1f} epochs to 95 % of its own best "
                     f"(seeds: {', '.join(map(str, counts))}; best validation score {sum(bests) / len(bests):.3f})")
    return "\n".join(lines)
