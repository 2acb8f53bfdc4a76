"""Where each stage reads and writes: one place for the repository layout."""

from pathlib import Path

RAW = Path("data/raw")
PREPARED = Path("data/prepared")
MODELS = Path("models")
TUNING = Path("data/tuning")  # <recipe>/<cell>.json: what each tune stage chose
JOURNAL = Path("data/journal")  # Optuna's studies: kept across runs, so not a DVC output
RUN_METRICS = Path("metrics/runs")
HISTORY = Path("reports/history")
SAMPLES = Path("reports/samples")
SUMMARY = Path("metrics/summary.json")
REPORT = Path("reports/comparison.md")
PLOTS = Path("reports/plots")
CURVES = Path("reports/curves")
TIMING = Path("reports/timing")  # <recipe>.json: the controlled step times (stage timing)
FULL_SUMMARY = Path("reports/summary.json")  # every statistic, timings included (not a DVC metric)


def run_name(cell: str, seed: int) -> str:
    """File stem of one (cell, seed) run."""
    return f"{cell}-seed{seed}"


def tuning_file(recipe: str, cell: str) -> Path:
    """The tune stage's output for (recipe, cell): the chosen settings and the trial table."""
    return TUNING / recipe / f"{cell}.json"
