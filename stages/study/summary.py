"""Aggregate per-run metrics into mean ± std over seeds, per recipe × cell."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from recipes.kit.files import META, RECIPE_FACTS, RUN_METRICS, Spec, read_checked_json
from stages.common import paths

# Training facts copied beside the test metrics in every run's JSON.
TRAIN_KEYS = ("hidden_size", "parameters", "best_epoch", "epochs_run", "train_seconds",
              "seconds_per_epoch", "examples_per_s", "tokens_per_s")


def load_runs(recipe: str, cells: list[str], seeds: list[int]) -> dict[str, list[dict]]:
    """Run metrics by cell, for the configured cells and seeds that exist."""
    runs: dict[str, list[dict]] = {}
    for cell in cells:
        for seed in seeds:
            path = paths.RUN_METRICS / recipe / f"{paths.run_name(cell, seed)}.json"
            if path.exists():
                remake = f"dvc repro evaluate@{recipe}-{cell}-{seed}"
                runs.setdefault(cell, []).append(read_checked_json(path, RUN_METRICS, remake))
    return runs


def load_histories(recipe: str, cell: str, seeds: list[int]) -> list[list[dict]]:
    """Per-epoch histories of one recipe × cell, one list per seed."""
    histories = []
    for seed in seeds:
        path = paths.HISTORY / recipe / f"{paths.run_name(cell, seed)}.csv"
        if path.exists():
            with open(path) as handle:
                histories.append([{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)])
    return histories


def mean_std(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one value) and n."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def run_values(run: dict) -> dict[str, float]:
    """The numbers of one run: test metrics (flattened) and training facts."""
    values = {k: float(v) for k, v in run["test"].items()}
    values.update({k: float(run[k]) for k in TRAIN_KEYS})
    return values


def summarize(runs: dict[str, list[dict]]) -> dict[str, dict[str, dict[str, float]]]:
    """{cell: {metric: {mean, std, n}}} over seeds."""
    summary = {}
    for cell, cell_runs in runs.items():
        per_run = [run_values(r) for r in cell_runs]
        summary[cell] = {key: mean_std([v[key] for v in per_run]) for key in per_run[0]}
    return summary


def tracked_metrics(summary: dict, quality: list[str]) -> dict[str, dict[str, float]]:
    """What `dvc metrics diff` and `dvc exp show` show per cell: the mean of each test quality metric
    (the loss aside), the parameter count and the best epoch; no wall clock, no spreads."""
    keys = [q for q in quality if q != "loss"] + ["parameters", "best_epoch"]
    return {cell: {k: round(stats[k]["mean"], 4) for k in keys} for cell, stats in summary.items()}


def read_optional(path: Path, spec: Spec, remake: str) -> dict | None:
    """A project JSON file's content, checked against `spec`, or None where it does not exist."""
    return read_checked_json(path, spec, remake) if path.exists() else None


def read_prepared(recipe: str, name: str) -> dict:
    """A JSON file of a prepared recipe, checked: meta.json (dataset, sizes, baseline) or recipe.json
    (topology, headline and each metric's direction)."""
    spec = META if name == "meta.json" else RECIPE_FACTS
    return read_checked_json(Path(paths.PREPARED) / recipe / name, spec, f"dvc repro prepare@{recipe}")
