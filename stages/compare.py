"""Stage: compare cells across recipes and seeds; write metrics/summary.json (what DVC shows),
reports/summary.json (every statistic), reports/comparison.md, reports/plots/*.png and
reports/curves/*.csv (for `dvc plots`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from recipes.kit.atomic import atomic_paths, json_text
from recipes.kit.errors import UserError
from recipes.kit.files import TIMING, TUNING
from recipes.kit.params import load_params
from stages.common import cli, paths
from stages.study import plots, report
from stages.study.summary import load_histories, load_runs, read_optional, read_prepared, summarize, tracked_metrics


def read_tunings(name: str, cells: list[str]) -> dict[str, dict]:
    """The tune stages' choices for the recipe's cells; empty when tuning is off."""
    tunings = {cell: read_optional(paths.tuning_file(name, cell), TUNING, f"dvc repro tune@{name}-{cell}")
               for cell in cells}
    return {cell: tuned for cell, tuned in tunings.items() if tuned and tuned["trials"] > 0}


def tuning_part(name: str, tunings: dict[str, dict], plot_dir: Path) -> str:
    """The report's tuning paragraph for one recipe (and its best-so-far plot when tuned)."""
    if not tunings:
        return "Tuning: off (`tune.trials: 0`): every cell trains with the recipe's params.yaml settings."
    first = next(iter(tunings.values()))
    plots.best_so_far(name, first["metric"], first["direction"], tunings, plot_dir / f"{name}_tuning.png")
    return ("**Tuned settings** (Optuna, the same number of trials per cell, seed 0, validation "
            f"{first['metric']}; trial 0 is params.yaml's settings)\n\n" + report.tuning_table(tunings)
            + f"\n\n![best so far by trial](plots/{name}_tuning.png)")


def by_length(key: str) -> tuple[str, int]:
    """Sort key of a test metric: by name, `name@L` after `name` in order of L (`accuracy@50` before `@100`)."""
    base, _, length = key.partition("@")
    return base, int(length) if length.isdigit() else -1


def gradient_part(name: str, runs: dict, seed: int, plot_dir: Path) -> tuple[str, dict] | None:
    """The report's gradient-through-time paragraph and plot from the runs of `seed` that measured it
    (stages/evaluate.py), and its verdicts; None when no run did."""
    cells = {cell: run["gradients"] for cell, cell_runs in runs.items() for run in cell_runs
             if run["seed"] == seed and "gradients" in run}
    if not cells:
        return None
    record = {"seed": seed, "rows": next(iter(cells.values()))["trained"]["rows"], "cells": cells}
    plots.gradients_through_time(name, record, plot_dir / f"{name}_gradients.png")
    text, verdicts = report.gradient_claim(record)
    return text + f"\n\n![gradient through time](plots/{name}_gradients.png)", {**record, "verdicts": verdicts}


def claims(summary: dict, runs: dict, histories: dict, facts: dict, matched: bool, timing: dict) -> str:
    """The seed document's three claims checked on this recipe's runs."""
    headline, direction = facts["headline"], facts["directions"][facts["headline"]]
    return ("1. Cell complexity grows RNN < GRU < LSTM\n" + report.claim_complexity(summary, matched, timing) + "\n"
            f"2. Gated cells beat the vanilla RNN (test {headline}, {direction} is better)\n"
            + report.claim_gated(runs, headline, direction) + "\n"
            "3. Trainability\n" + report.claim_trainability(histories, facts["directions"][facts["metric"]]))


def dataset_notes(meta: dict) -> str:
    """The licence and the test split's share of `<unk>` tokens, where the prepared data records them."""
    notes = ""
    if "licence" in meta["source"]:
        notes += f" Licence: {meta['source']['licence']}."
    unknown = meta.get("unk_share", {}).get("test")
    if unknown:
        notes += (f" Words outside the vocabulary (`<unk>`): {unknown['source']:.1%} of source and "
                  f"{unknown['target']:.1%} of target test tokens.")
    return notes


def recipe_section(name: str, summary: dict, meta: dict, facts: dict, quality: list[str], timing: dict,
                   tuning: str, claims_text: str) -> str:
    """The report's part for one recipe: dataset, baseline, table, tuning, plots, claims."""
    baseline = meta["baseline"]
    baseline_text = ", ".join(f"{k} {v:.3f}" for k, v in baseline.items() if k != "name")
    sizes = " / ".join(f"{meta['sizes'][k]:,}" for k in ("train", "valid", "test"))
    signature = meta.get("sacrebleu_signature")
    signature = f" sacreBLEU (0–100) signature: `{signature}`." if signature else ""
    return "\n\n".join([
        f"## {name} ({facts['topology']})",
        f"Dataset: {meta['source'].get('dataset')} — {sizes} examples (train / valid / test). "
        f"Baseline ({baseline['name']}): {baseline_text}. Best epoch by validation {facts['metric']}.{signature}"
        + dataset_notes(meta),
        report.recipe_table(summary, quality, timing, baseline),
        tuning,
        f"![validation curves](plots/{name}_curves.png) ![quality vs parameters](plots/{name}_quality.png)",
        "**Claims checked on this recipe**\n\n" + claims_text,
    ])


def compare_recipe(name: str, params: dict, plot_dir: Path, curve_dir: Path) -> tuple[str, dict, dict]:
    """Plots and curves of one recipe; its report section, its tracked metrics and its full record."""
    runs = load_runs(name, params["cells"], params["seeds"])
    if not runs:
        raise UserError(f"no metrics for {name} in {paths.RUN_METRICS}: run `dvc repro` first")
    summary = summarize(runs)
    histories = {cell: load_histories(name, cell, params["seeds"]) for cell in runs}
    meta, facts = read_prepared(name, "meta.json"), read_prepared(name, "recipe.json")
    facts["metric"] = next(iter(runs.values()))[0]["selected_by"]  # the validation metric train chose by
    timing = read_optional(paths.TIMING / f"{name}.json", TIMING, f"dvc repro timing@{name}")
    if timing is None:
        raise UserError(f"no {paths.TIMING / name}.json: run `dvc repro timing@{name}` first")
    metric, headline = facts["metric"], facts["headline"]
    plots.validation_curves(name, metric, facts["directions"][metric], histories, plot_dir / f"{name}_curves.png")
    plots.quality_vs_parameters(name, headline, facts["directions"][headline], summary,
                                plot_dir / f"{name}_quality.png")
    plots.write_curves_csv(histories, curve_dir / f"{name}_valid_{metric}.csv")
    lengths_at = [key for key in next(iter(summary.values())) if key.startswith(f"{headline}@")]
    if lengths_at:  # scored at other input lengths too (the memory recipe)
        plots.length_generalisation(name, headline, summary, meta["length"], plot_dir / f"{name}_length.png")
    gradients = gradient_part(name, runs, params["gradients"]["seed"], plot_dir)
    tunings = read_tunings(name, list(runs))
    quality = sorted(next(iter(runs.values()))[0]["test"], key=by_length)
    claims_text = claims(summary, runs, histories, facts, params["compare_by"] == "params", timing)
    section = recipe_section(name, summary, meta, facts, quality, timing, tuning_part(name, tunings, plot_dir),
                             claims_text)
    if lengths_at:
        section += (f"\n\n**Length generalisation**: test {headline} at other input lengths (trained at "
                    f"T = {meta['length']})\n\n![test {headline} by length](plots/{name}_length.png)")
    if gradients:
        section += "\n\n" + gradients[0]
    record = {"headline": headline, "direction": facts["directions"][headline], "cells": summary,
              "claims": report.verdicts(claims_text), "timing": timing,
              "tuning": {cell: {k: v for k, v in tuned.items() if k != "table"} for cell, tuned in tunings.items()}}
    if gradients:
        record["gradients"] = gradients[1]
    return section, tracked_metrics(summary, quality), record


def main() -> None:
    """Summarise every configured recipe × cell × seed."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    params = load_params(ap.parse_args().params)
    matched, reference = params["compare_by"] == "params", params["reference_cell"]
    tracked, full, sections, headlines = {}, {}, [], {}
    outputs = paths.PLOTS, paths.CURVES, paths.REPORT, paths.FULL_SUMMARY, paths.SUMMARY
    with atomic_paths(*outputs) as (plot_dir, curve_dir, report_file, full_file, summary_file):
        plot_dir.mkdir()
        curve_dir.mkdir()
        for name in params["recipes"]:
            section, tracked[name], full[name] = compare_recipe(name, params, plot_dir, curve_dir)
            sections.append(section)
            headlines[name] = (full[name]["headline"], full[name]["direction"])
        sizing = (f"Cells are matched by parameter count (within 2 % of {reference})."
                  if matched else "Every cell uses each recipe's `model.hidden_size`.")
        header = (f"# Cell comparison\n\nRegenerated by `dvc repro` (stage `compare`). Seeds: {params['seeds']}; "
                  f"values are mean ± sample std over seeds. {sizing}\n")
        summaries = {name: record["cells"] for name, record in full.items()}
        overview = "## Overview\n\n" + report.overview(summaries, headlines)
        report_file.write_text(header + "\n" + "\n\n".join([overview, *sections]) + "\n")
        full_file.write_text(json_text(full))
        summary_file.write_text(json_text(tracked))
    print(f"wrote {paths.REPORT}, {paths.SUMMARY}, {paths.FULL_SUMMARY}, {paths.PLOTS}/ and {paths.CURVES}/")


if __name__ == "__main__":
    cli.run(main)
