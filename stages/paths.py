"""Where each stage reads and writes: one place for the repository layout."""

from pathlib import Path

RAW = Path("data/raw")
PREPARED = Path("data/prepared")
MODELS = Path("models")
RUN_METRICS = Path("metrics/runs")
HISTORY = Path("reports/history")
SAMPLES = Path("reports/samples")
SUMMARY = Path("metrics/summary.json")
REPORT = Path("reports/comparison.md")
PLOTS = Path("reports/plots")
CURVES = Path("reports/curves")


def run_name(cell: str, seed: int) -> str:
    """File stem of one (cell, seed) run."""
    return f"{cell}-seed{seed}"
