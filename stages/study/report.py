"""The markdown report: a table per recipe, then the seed document's claims checked."""

from __future__ import annotations

import math
import re

from scipy.stats import ttest_ind

from recipes.cells import cell_class, cell_names, gated_pairs
from recipes.kit.contract import HIGHER, better


def in_order(cells) -> list[str]:
    """The registered cells among `cells` (any iterable of names), in registry order."""
    present = set(cells)
    return [c for c in cell_names() if c in present]


def fmt(stat: dict, digits: int = 3) -> str:
    """`mean ± std` of a {mean, std, n} entry."""
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def recipe_table(summary: dict, quality: list[str], timing: dict, baseline: dict | None = None) -> str:
    """One row per cell: size, parameters, quality mean ± std, controlled step time, run wall clock, best epoch;
    then the prepared data's baseline, where it scores one of the quality metrics."""
    head = ["cell", "n", "hidden", "parameters", *quality, "ms/step (controlled)", "train s (wall)",
            "best epoch"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cell in in_order(summary):
        s = summary[cell]
        row = [cell, str(s["parameters"]["n"]), f"{s['hidden_size']['mean']:.0f}", f"{s['parameters']['mean']:,.0f}",
               *(fmt(s[q]) for q in quality), f"{timing['cells'][cell]['seconds_per_step'] * 1000:.1f}",
               f"{s['train_seconds']['mean']:.1f}", fmt(s["best_epoch"], 1)]
        lines.append("| " + " | ".join(row) + " |")
    if baseline and any(q in baseline for q in quality):
        scores = [f"{baseline[q]:.4g}" if q in baseline else "—" for q in quality]
        lines.append("| " + " | ".join([f"baseline: {baseline['name']}", "", "", "", *scores, "", "", ""]) + " |")
    return "\n".join(lines)


def tuning_table(tunings: dict[str, dict]) -> str:
    """One row per tuned cell: trials, chosen settings, best validation score against trial 0's (untuned)."""
    names = list(next(iter(tunings.values()))["settings"])  # e.g. train.lr, model.dropout
    lines = ["| cell | trials | " + " | ".join(names) + " | valid score (untuned → tuned) |",
             "|---|---|" + "---|" * len(names) + "---|"]
    for cell in in_order(tunings):
        tuned = tunings[cell]
        untuned = tuned["untuned_valid_score"]
        untuned_text = "diverged" if untuned is None else f"{untuned:.4f}"
        settings = " | ".join(f"{tuned['settings'][n]:.3g}" for n in names)
        lines.append(f"| {cell} | {tuned['trials']} | {settings} | {untuned_text} → {tuned['valid_score']:.4f} |")
    return "\n".join(lines)


def verdicts(claims: str) -> dict[str, str]:
    """The verdicts in the claims' markdown: `- gru vs rnn: **holds** (…)` → {"gru vs rnn": "holds"}."""
    found = re.findall(r"^- (.+?): \*\*(.+?)\*\*", claims, flags=re.MULTILINE)
    return dict(found)


def overview(summaries: dict[str, dict], headlines: dict[str, tuple[str, str]]) -> str:
    """One row per recipe: the headline test metric of every cell, mean ± std, the best in bold."""
    order = in_order(c for summary in summaries.values() for c in summary)
    lines = ["| recipe | metric | " + " | ".join(order) + " |", "|---|---|" + "---|" * len(order)]
    for name, summary in summaries.items():
        metric, direction = headlines[name]
        means = {c: summary[c][metric]["mean"] for c in in_order(summary)}
        best = max(means.values()) if direction == HIGHER else min(means.values())
        cells = [("**" + fmt(summary[c][metric]) + "**" if means[c] == best else fmt(summary[c][metric]))
                 if c in summary else "—" for c in order]
        arrow = "↑" if direction == HIGHER else "↓"
        lines.append(f"| {name} | test {metric} {arrow} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ordered(values: dict[str, float], cells: list[str], spec: str) -> tuple[bool, str]:
    """Whether the values grow along `cells`, and the chain as text (`rnn 1 < gru 2 < lstm 3`)."""
    cells = [c for c in cells if c in values]
    text = " < ".join(f"{c} {values[c]:{spec}}" for c in cells)
    return all(values[a] < values[b] for a, b in zip(cells, cells[1:])), text


def families(cells) -> dict[str, list[str]]:
    """The cells of each family of two or more (registry metadata `family`), each ordered by gate count:
    the claim that cost grows with the gates compares cells of one kind (e.g. fused PyTorch cells)."""
    grouped: dict[str, list[str]] = {}
    for cell in in_order(cells):
        grouped.setdefault(cell_class(cell).family, []).append(cell)
    return {family: sorted(members, key=lambda c: cell_class(c).gates)
            for family, members in grouped.items() if len(members) > 1}


def claim_complexity(summary: dict, matched: bool, timing: dict) -> str:
    """Claim 1: within a family, parameters and time per epoch grow with the gates (RNN < GRU < LSTM);
    time from the controlled measurement."""
    groups = families(summary)
    lines = []
    for family, cells in groups.items():
        label = f" ({family})" if len(groups) > 1 else ""
        params_ok, params_text = _ordered({c: s["parameters"]["mean"] for c, s in summary.items()}, cells, ",.0f")
        time_ok, time_text = _ordered({c: timing["cells"][c]["seconds_per_epoch"] for c in summary
                                       if c in timing["cells"]}, cells, ".3g")
        params_verdict = "holds" if params_ok else "does not hold"
        if matched:
            params_verdict = "matched by design (compare_by: params)"
        lines += [f"- parameters{label}: **{params_verdict}** ({params_text})",
                  f"- seconds per epoch{label}: **{'holds' if time_ok else 'does not hold'}** ({time_text}; "
                  f"stage timing: {timing['method']})"]
    return "\n".join(lines) or "- fewer than two cells of one family to compare"


def welch(a: list[float], b: list[float]) -> float:
    """Two-sided Welch's t-test p-value (nan when both samples are constant)."""
    p = ttest_ind(a, b, equal_var=False).pvalue
    return float(p) if p == p else math.nan


def claim_gated(runs: dict, metric: str, direction: str = HIGHER) -> str:
    """Claim 2: each gated cell beats each plain one (registry metadata `gated`) on the headline test metric
    (in its direction)."""
    pairs = gated_pairs(in_order(runs))
    if not pairs:
        return "- no pair of a gated and a plain cell to compare"
    lines = []
    for cell, plain in pairs:
        base = [r["test"][metric] for r in runs[plain]]
        gated = [r["test"][metric] for r in runs[cell]]
        diff = sum(gated) / len(gated) - sum(base) / len(base)
        gain = diff if direction == HIGHER else -diff  # > 0: the gated cell is better
        if min(len(gated), len(base)) < 3:
            verdict, p_text = "not enough seeds", f"n={len(gated)} vs {len(base)}, need ≥ 3"
        else:
            p = welch(gated, base)
            p_text = f"Welch p = {p:.3g}"
            verdict = "holds" if gain > 0 and p < 0.05 else ("not significant" if gain > 0 or p >= 0.05 else "reversed")
        lines.append(f"- {cell} vs {plain}: **{verdict}** (Δ {metric} = {diff:+.3f}; {p_text})")
    return "\n".join(lines)


def common_bar(histories: dict[str, list[list[dict]]], direction: str, share: float = 0.95) -> float:
    """One validation level for all cells of a recipe: `share` of the best score any cell reached
    (for a lower-is-better metric: the best score divided by `share`)."""
    scores = [row["valid_metric"] for runs in histories.values() for h in runs for row in h]
    best = max(scores) if direction == HIGHER else min(scores)
    return best * share if direction == HIGHER else best / share


def epochs_to_reach(history: list[dict], bar: float, direction: str) -> int | None:
    """First epoch whose validation score reaches `bar` (None: never)."""
    return next((int(row["epoch"]) for row in history
                 if row["valid_metric"] == bar or better(direction, row["valid_metric"], bar)), None)


def claim_trainability(histories: dict[str, list[list[dict]]], direction: str = HIGHER) -> str:
    """Claim 3: epochs each cell needs to reach one validation level shared by all cells
    (95 % of the best cell's best score); "never" where a run does not get there."""
    bar = common_bar(histories, direction)
    lines = [f"- common bar: validation score {'≥' if direction == HIGHER else '≤'} {bar:.3f} "
             "(95 % of the best score of any cell)"]
    for cell in in_order(c for c, h in histories.items() if h):
        counts = [epochs_to_reach(h, bar, direction) for h in histories[cell]]
        reached = [c for c in counts if c is not None]
        seeds = ", ".join("never" if c is None else str(c) for c in counts)
        if not reached:
            lines.append(f"- {cell}: **never** reaches it (seeds: {seeds})")
        else:
            lines.append(f"- {cell}: {sum(reached) / len(reached):.1f} epochs in the {len(reached)} of "
                         f"{len(counts)} runs that reach it (seeds: {seeds})")
    return "\n".join(lines)


def gradient_claim(record: dict) -> tuple[str, dict]:
    """Whether each gated cell's gradient reaches the first step with a larger norm than each plain cell's,
    for the trained models and at initialisation: (markdown, {"<gated> vs <plain> (<state>)": verdict})."""
    cells = in_order(record["cells"])
    lines = [f"**Gradient through time** (measured by `evaluate`, seed {record['seed']}'s models, {record['rows']} "
             "validation rows): mean ‖∂loss/∂h_t‖ at each sequence's first step and last step",
             "", "| cell | first step, initial | first step, trained | last step, trained |", "|---|---|---|---|"]
    for cell in cells:
        initial, trained = record["cells"][cell]["initial"], record["cells"][cell]["trained"]
        lines.append(f"| {cell} | {initial['first_step']:.3g} | {trained['first_step']:.3g} | "
                     f"{trained['last_step']:.3g} |")
    verdicts, lines = {}, [*lines, ""]
    for gated, plain in gated_pairs(cells):
        for state in ("trained", "initial"):
            ours, theirs = (record["cells"][c][state]["first_step"] for c in (gated, plain))
            verdict = "larger" if ours > theirs else "not larger"
            verdicts[f"{gated} vs {plain} ({state})"] = verdict
            lines.append(f"- {gated} vs {plain}, {state}: first-step gradient **{verdict}** "
                         f"({ours:.3g} vs {theirs:.3g}, ×{ours / theirs:.3g})" if theirs > 0 else
                         f"- {gated} vs {plain}, {state}: **{verdict}** ({ours:.3g} vs 0)")
    return "\n".join(lines), verdicts
