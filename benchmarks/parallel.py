"""Parallel-study benchmark: the whole default study, sequential against parallel, in one sitting.

    python -m benchmarks.parallel [--jobs N]      (about 25 minutes on 2 cores; run nothing else meanwhile)
    python -m benchmarks.parallel --simulate 1,2,4,8,16 [--scale S]   (benchmarks/simulate.py)

From the same state, with every stage forced:
  1. sequential — `dvc repro --force`, one stage after another;
  2. parallel   — `python -m stages.study.parallel --force --jobs N` (N = cores by default).
It checks that both give the same test metrics, and puts the wall times beside
the study's pure work (the sum of its runs' training-loop seconds, a floor no
scheduler beats) and its start-up overhead: per stage, DVC's own invocation (a
`dvc repro --single-item` of an up-to-date stage) plus starting Python and
importing torch and a stage (`python -m stages.train --help`), times the number
of stages. Writes reports/benchmark_parallel.json and a section of
reports/benchmark.md (the study does not depend on either).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recipes.kit.atomic import write_json, write_text
from stages.common import cli, paths
from stages.study import parallel

SECTION_START, SECTION_END = "<!-- parallel study: benchmarks/parallel.py -->", "<!-- end parallel study -->"


def timed(argv: list[str], log: Path) -> float:
    """Wall seconds of a command, its output appended to `log`; a failure stops the benchmark."""
    start = time.perf_counter()
    with open(log, "a") as handle:
        if subprocess.run(argv, stdout=handle, stderr=subprocess.STDOUT).returncode != 0:
            raise cli.UserError(f"`{' '.join(argv)}` failed: see {log}")
    return time.perf_counter() - start


def run_test_metrics() -> dict[str, dict]:
    """Every run's test metrics, by file."""
    return {str(p): json.loads(p.read_text())["test"] for p in sorted(paths.RUN_METRICS.glob("*/*.json"))}


def largest_difference(first: dict[str, dict], second: dict[str, dict]) -> float:
    """The largest absolute difference between the same test metric of the same run in two snapshots."""
    return max((abs(first[f][k] - second[f][k]) for f in first for k in first[f]), default=0.0)


def kept_section(path: Path, start: str = SECTION_START, end: str = SECTION_END) -> str:
    """A benchmark's section (between its `start` and `end` markers) of an existing benchmark.md, or ""."""
    text = path.read_text() if path.exists() else ""
    if start not in text:
        return ""
    return "\n" + text[text.index(start): text.index(end) + len(end)] + "\n"


def training_seconds() -> float:
    """The study's pure work: the sum of its runs' training-loop seconds."""
    return sum(json.loads(p.read_text())["train_seconds"] for p in paths.RUN_METRICS.glob("*/*.json"))


def startup_seconds(log: Path, reps: int = 3) -> dict[str, float]:
    """Median start-up cost of one stage: DVC's invocation, and Python + torch + a stage's imports."""
    dvc = [timed(["dvc", "--wait-for-lock", "repro", "--single-item", "compare"], log) for _ in range(reps)]
    python = [timed([sys.executable, "-m", "stages.train", "--help"], log) for _ in range(reps)]
    return {"dvc": statistics.median(dvc), "python_torch_imports": statistics.median(python)}


def markdown(result: dict) -> str:
    """The benchmark.md section."""
    r = result
    return "\n".join([
        SECTION_START,
        "## Parallel study (benchmarks/parallel.py)",
        "",
        f"The whole default study ({r['stages']} stages, every one forced), run twice in one sitting on "
        f"{r['cores']} cores from the same state.",
        "",
        "| run | wall seconds |",
        "|---|---|",
        f"| sequential (`dvc repro --force`) | {r['sequential_seconds']:.0f} |",
        f"| parallel (`python -m stages.study.parallel --force --jobs {r['jobs']}`) | {r['parallel_seconds']:.0f} |",
        f"| parallel ÷ sequential | **{r['parallel_over_sequential']:.2f}** |",
        f"| pure work: the runs' training loops, summed | {r['work_seconds']:.0f} |",
        f"| start-up overhead, summed ({r['startup_seconds_per_stage']:.1f} s a stage) | "
        f"{r['startup_seconds_total']:.0f} |",
        "",
        f"Same test metrics in both runs: {'yes' if r['same_test_metrics'] else 'NO'}.",
        SECTION_END,
    ])


def write_section(path: Path, section: str, start: str = SECTION_START, end: str = SECTION_END) -> None:
    """Put `section` (marked by `start` … `end`) into benchmark.md, replacing an earlier one, keeping the rest."""
    text = path.read_text() if path.exists() else ""
    if start in text:
        text = text[: text.index(start)] + text[text.index(end) + len(end):].lstrip("\n")
    write_text(path, text.rstrip("\n") + "\n\n" + section + "\n")


def write_simulation(workers: list[int], out: Path, scale: float, key: str = "simulated") -> None:
    """The scaling simulation, written under `key` in benchmark_parallel.json and plotted
    (parallel_scaling.png; parallel_scaling_<key>.png for another key, so one run never hides another)."""
    from benchmarks import simulate

    report = out / "benchmark_parallel.json"
    result = simulate.simulate(workers, Path.cwd(), report, scale)
    write_json(report, {**json.loads(report.read_text()), key: result})
    simulate.plot(result, out / ("parallel_scaling.png" if key == "simulated" else f"parallel_scaling_{key}.png"))
    print(json.dumps({w: r["speedup"] and round(r["speedup"], 2) for w, r in result["workers"].items()}))


def main() -> None:
    """Run the study sequentially, then in parallel, and write the comparison."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel jobs (default: every core)")
    ap.add_argument("--out", default="reports", help="folder for benchmark.md and benchmark_parallel.json")
    ap.add_argument("--simulate", default=None, metavar="COUNTS",
                    help="instead: the scaling simulation at these worker counts (comma-separated)")
    ap.add_argument("--scale", type=float, default=1.0, help="--simulate: multiply each stage's seconds by this")
    ap.add_argument("--key", default="simulated",
                    help="--simulate: the key of benchmark_parallel.json to write (default: simulated)")
    args = ap.parse_args()
    if args.simulate:
        return write_simulation([int(w) for w in args.simulate.split(",")], Path(args.out), args.scale, args.key)
    log = Path(tempfile.gettempdir()) / "rnn-recipes-benchmark-parallel.log"
    log.unlink(missing_ok=True)
    print(f"sequential: dvc repro --force ... (output in {log})", flush=True)
    sequential = timed(["dvc", "repro", "--force"], log)
    before = run_test_metrics()
    startup = startup_seconds(log)
    print(f"sequential {sequential:.0f} s; parallel ...", flush=True)
    start = time.perf_counter()
    run = parallel.run_local(Path.cwd(), args.jobs, force=True, log=lambda _: None)
    done, failed = run.done, run.failed
    parallel_s = time.perf_counter() - start
    if failed:
        raise cli.UserError(f"the parallel run failed: {failed[0][0]}: {failed[0][1]}")
    per_stage = sum(startup.values())
    result = {"stages": len(done), "cores": os.cpu_count(), "jobs": args.jobs,
              "sequential_seconds": sequential, "parallel_seconds": parallel_s,
              "parallel_over_sequential": parallel_s / sequential, "work_seconds": training_seconds(),
              "startup_seconds": startup, "startup_seconds_per_stage": per_stage,
              "startup_seconds_total": per_stage * len(done), "same_test_metrics": run_test_metrics() == before,
              "max_test_metric_difference": largest_difference(before, run_test_metrics()),
              "serial_seconds_per_stage": run.bookkeeping_seconds / max(len(done), 1),
              "lock_writes": run.lock_writes,
              "parallel_stage_seconds": {r.name: round(r.seconds, 2) for r in done}}
    write_json(Path(args.out) / "benchmark_parallel.json", result)
    write_section(Path(args.out) / "benchmark.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    cli.run(main)
