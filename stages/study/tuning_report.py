"""Write reports/tuning.md and reports/tuning.json: the tuned study against the untuned one.

    dvc exp run -S tune.trials=8                          # the tuned study (tune, then train with its choices)
    python -m stages.study.tuning_report --untuned HEAD --wall-seconds 2400

The tuned side is this workspace: the tune stages' choices (data/tuning/) and
compare's reports/summary.json. The untuned side is reports/summary.json of a
git revision (--untuned, default HEAD: the committed default study) or a file.
Not a DVC stage: the default study (tune.trials: 0) would overwrite it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import optuna
from optuna.importance import FanovaImportanceEvaluator, get_param_importances

from recipes.kit.atomic import atomic_paths, json_text
from recipes.kit.contract import HIGHER
from recipes.kit.errors import UserError
from recipes.kit.params import load_params
from recipes.kit.space import contains, trained_distribution, tuned_names
from stages.common import cli, paths
from stages.compare import read_tunings
from stages.study import plots, report
from stages.study.budget import expected_best_curve, ranking_changes

OUT_MD, OUT_JSON, OUT_PLOTS = Path("reports/tuning.md"), Path("reports/tuning.json"), Path("reports/tuning")


def revision_label(source: str) -> str:
    """`source` as the report names it: a file path as given, a git revision as its short commit."""
    if Path(source).is_file():
        return source
    shown = subprocess.run(["git", "rev-parse", "--short", source], capture_output=True, text=True)
    return shown.stdout.strip() or source


def read_untuned(source: str) -> dict:
    """reports/summary.json from a file path, or from the git revision `source`."""
    if Path(source).is_file():
        return json.loads(Path(source).read_text())
    shown = subprocess.run(["git", "show", f"{source}:{paths.FULL_SUMMARY}"], capture_output=True, text=True)
    if shown.returncode != 0:
        raise UserError(f"could not read {paths.FULL_SUMMARY} at {source!r} ({shown.stderr.strip()}): "
                        "pass --untuned a commit of the untuned study or a summary file")
    return json.loads(shown.stdout)


def cell_record(tuned: dict, full: dict, untuned: dict, cell: str) -> dict:
    """One (recipe, cell): trials, settings, validation scores, and the headline test metric both ways."""
    headline = full["headline"]
    stat = full["cells"][cell][headline]
    before = untuned["cells"][cell][headline]
    return {"trials": tuned["trials"], "settings": tuned["settings"], "valid_score": tuned["valid_score"],
            "untuned_valid_score": tuned["untuned_valid_score"], "test_metric": headline,
            "tuned_test": {"mean": stat["mean"], "std": stat["std"], "n": stat["n"]},
            "untuned_test": {"mean": before["mean"], "std": before["std"], "n": before["n"]}}


def test_table(record: dict) -> str:
    """Tuned against untuned test metric per cell."""
    lines = ["| cell | untuned test | tuned test | Δ |", "|---|---|---|---|"]
    for cell in report.in_order(record["cells"]):
        r = record["cells"][cell]
        delta = r["tuned_test"]["mean"] - r["untuned_test"]["mean"]
        lines.append(f"| {cell} | {report.fmt(r['untuned_test'])} | {report.fmt(r['tuned_test'])} | {delta:+.3f} |")
    return "\n".join(lines)


def claims_table(tuned: dict[str, str], untuned: dict[str, str], cells: list[str]) -> str:
    """Each claim's verdict before and after tuning, changes in bold.

    compare records the trainability claim only for a cell that never reaches the common bar (its key is
    the cell's name, its verdict "never"), so a cell without one reached it: shown as "yes"."""
    def shown(verdicts: dict[str, str], claim: str) -> str:
        if claim in cells and verdicts:
            return verdicts.get(claim, "yes")
        return verdicts.get(claim, "—")

    general = [c for c in dict.fromkeys([*tuned, *untuned]) if c not in cells]
    per_cell = [c for c in cells if c in tuned or c in untuned]
    lines = ["| claim | untuned | tuned |", "|---|---|---|"]
    for claim in general + per_cell:
        before, after = shown(untuned, claim), shown(tuned, claim)
        label = f"{claim} reaches the trainability bar" if claim in cells else claim
        lines.append(f"| {label} | {before} | {f'**{after}**' if after != before else after} |")
    return "\n".join(lines)


def budget_record(tunings: dict[str, dict], direction: str) -> dict:
    """Per cell, the expected best validation score of n trials (n = 1 … its scored trials), and each
    budget at which the cells' order changes.

    A pruned trial counts with the score it had when it was stopped: that is what a study of that budget
    would have seen of it. Counting only the trials that ran to the end would keep the ones that beat the
    median, and make a small budget look as good as a large one; a trial without a score (diverged before
    its first validation) is left out, and `counted` says how many of each kind there were."""
    curves, counted = {}, {}
    for cell, tuned in tunings.items():
        rows = [row for row in tuned["table"] if row.get("valid_score") is not None]
        counted[cell] = {state: sum(row["state"] == state for row in rows) for state in ("complete", "pruned")}
        if rows:
            curves[cell] = expected_best_curve([row["valid_score"] for row in rows], direction)
    return {"curves": curves, "counted": counted,
            "ranking_changes": ranking_changes(curves, direction) if curves else []}


def budget_text(budget: dict, direction: str) -> str:
    """One sentence: whether and where the ranking of the cells by expected best changes with the budget."""
    if not budget["curves"]:
        return "No scored trials: no budget curve."
    if not budget["ranking_changes"]:
        order = sorted(budget["curves"], key=lambda c: budget["curves"][c][0], reverse=direction == HIGHER)
        return f"The cells keep one order at every budget from 1 trial on ({' > '.join(order)} at 1 trial)."
    return "The ranking changes with the budget: " + "; ".join(
        f"at {c['trials']} trials {' > '.join(c['after'])} (was {' > '.join(c['before'])})"
        for c in budget["ranking_changes"]) + "."


def importance(tuned: dict, space: dict[str, list[float]]) -> dict[str, float] | None:
    """fANOVA importance of each tuned setting for one recipe × cell (Optuna's evaluator, over the finished
    trials in `space`); None when there is no variance to explain (fewer than two distinct scores)."""
    names = tuned_names(space)
    distributions = {name: trained_distribution(name, space[name]) for name in names}
    trials = [optuna.trial.create_trial(value=row["valid_score"], params={n: row[n] for n in names},
                                        distributions=distributions)
              for row in tuned["table"] if row["state"] == "complete"
              and all(contains(n, space[n], row[n]) for n in names)]
    if len({t.value for t in trials}) < 2:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    study.add_trials(trials)
    try:
        found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    except RuntimeError:  # Optuna: "zero total variance in all trees" (a forest fitted to too few trials)
        return None
    return {name: float(found[name]) for name in names}


def importance_table(importances: dict[str, dict[str, float] | None], names: list[str]) -> str:
    """One row per cell: each setting's share of the validation score's variance (fANOVA); — where the
    finished trials' scores do not vary."""
    lines = ["| cell | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for cell, found in importances.items():
        cells = [f"{found[n]:.2f}" for n in names] if found else ["—"] * len(names)
        lines.append(f"| {cell} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def recipe_record(name: str, cells: list[str], full: dict, untuned: dict, plot_dir: Path,
                  space: dict[str, list[float]]) -> tuple[dict, str]:
    """One recipe's JSON record and markdown section."""
    tunings = read_tunings(name, cells)
    if not tunings:
        raise UserError(f"{name} was not tuned here (data/tuning/{name}/*.json say trials 0): "
                        "run `dvc exp run -S tune.trials=8` first")
    first = next(iter(tunings.values()))
    plots.best_so_far(name, first["metric"], first["direction"], tunings, plot_dir / f"{name}.png")
    budget = budget_record(tunings, first["direction"])
    plots.expected_best(name, first["metric"], first["direction"], budget["curves"], plot_dir / f"{name}_budget.png")
    importances = {cell: importance(tuned, space) for cell, tuned in tunings.items()}
    record = {"headline": full["headline"], "expected_best": budget, "importance": importances,
              "cells": {cell: cell_record(tunings[cell], full, untuned, cell) for cell in tunings},
              "claims": {"tuned": full["claims"], "untuned": untuned.get("claims", {}),
                         "changed": sorted(c for c, v in full["claims"].items()
                                           if untuned.get("claims", {}).get(c) != v)}}
    section = "\n\n".join([
        f"## {name}", report.tuning_table(tunings), f"![best so far by trial](tuning/{name}.png)",
        "**Expected best validation score of n trials** (Dodge et al. 2019; exact over the scored trials, "
        "a pruned one at the score it was stopped with)\n\n"
        f"![expected best by budget](tuning/{name}_budget.png)\n\n" + budget_text(budget, first["direction"]),
        "**Which setting mattered** (fANOVA importance over the finished trials, Optuna)\n\n"
        + importance_table(importances, tuned_names(space)),
        f"**Test {full['headline']}, mean ± std over seeds**\n\n" + test_table(record),
        "**Claims' verdicts**\n\n" + claims_table(full["claims"], untuned.get("claims", {}),
                                                   report.in_order(tunings))])
    return record, section


def main() -> None:
    """Compare the tuned study in this workspace with the untuned one."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--untuned", default="HEAD", help="git revision or summary file of the untuned study")
    ap.add_argument("--wall-seconds", type=float, default=None, help="the tuned study's wall time, to report")
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = ap.parse_args()
    params = load_params(args.params)
    full_all = json.loads(paths.FULL_SUMMARY.read_text())
    untuned_all = read_untuned(args.untuned)
    records, sections = {}, []
    with atomic_paths(OUT_PLOTS, OUT_MD, OUT_JSON) as (plot_dir, md_file, json_file):
        plot_dir.mkdir()
        for name in params["recipes"]:
            records[name], section = recipe_record(name, params["cells"], full_all[name], untuned_all[name],
                                                   plot_dir, params["tune"]["space"][name])
            sections.append(section)
        wall = f" Wall time of the tuned study: {args.wall_seconds:.0f} s." if args.wall_seconds else ""
        header = (f"# Tuning: every cell tuned on its own, with the same budget\n\n"
                  f"{params['tune']['trials']} Optuna trials ({params['tune']['sampler']} sampler"
                  f"{', median pruning' if params['tune']['prune'] else ''}) per recipe × cell, each a real "
                  f"training once per tune seed {params['tune']['seeds']}, the mean scored on validation; "
                  "trial 0 is params.yaml's settings. The chosen "
                  f"settings then train seeds {params['seeds']}. Untuned: `{revision_label(args.untuned)}`.{wall}\n")
        md_file.write_text(header + "\n" + "\n\n".join(sections) + "\n")
        json_file.write_text(json_text({"trials": params["tune"]["trials"], "wall_seconds": args.wall_seconds,
                                        "untuned": revision_label(args.untuned), "recipes": records}))
    print(f"wrote {OUT_MD}, {OUT_JSON} and {OUT_PLOTS}/")


if __name__ == "__main__":
    cli.run(main)
