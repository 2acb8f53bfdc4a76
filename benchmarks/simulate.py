"""Scaling simulation: the study's real graph through the real runner and real DVC, each command a sleep.

    python -m benchmarks.parallel --simulate 1,2,4,8,16 [--scale 1.0]

A scratch copy of the project gets a dvc.yaml whose every `python -m stages.<kind> <args>`
is replaced by `python sleep_stage.py <kind> <args>`: it sleeps for that stage's measured
seconds (reports/benchmark_parallel.json, `parallel_stage_seconds`: the latest real run)
and writes placeholder outputs. Deps, outputs, params and the graph are the study's own,
so DVC hashes, caches and records every stage as in a real run, and what is left beside
the sleeps is the runner's and DVC's own cost. Each worker count runs every stage (forced).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recipes.kit.errors import UserError
from stages.study import parallel

CODE = ["dvc.yaml", "params.yaml", "stages", "recipes", ".dvcignore"]  # what a stage of the study needs

SLEEP_STAGE = '''
import json, sys, time
from pathlib import Path
kind, args = sys.argv[1], sys.argv[2:]
name = f"{kind}@{'-'.join(args)}" if args else kind
plan = json.loads(Path("simulation.json").read_text())[name]
time.sleep(plan["seconds"])
for out, is_dir in plan["outs"]:
    path = Path(out)
    if is_dir:
        path.mkdir(parents=True, exist_ok=True)
        (path / "placeholder.txt").write_text(name)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}" if path.suffix == ".json" else name)
'''


def measured_seconds(report: Path) -> tuple[dict[str, float], float]:
    """The latest real run's seconds per stage, and the per-stage start-up cost used for stages it lacks."""
    data = json.loads(report.read_text())
    return data["parallel_stage_seconds"], data["startup_seconds"]["python_torch_imports"]


def copy_code(source: Path, target: Path) -> None:
    """Copy the project's study code (CODE) from `source` into the new folder `target`."""
    target.mkdir()
    for name in CODE:
        src = source / name
        (shutil.copytree(src, target / name, ignore=shutil.ignore_patterns("__pycache__")) if src.is_dir()
         else shutil.copy(src, target / name))


def workspace(root: Path, source: Path) -> Path:
    """A DVC project in root/sim with the study's graph and sleeping commands."""
    sim = root / "sim"
    copy_code(source, sim)
    text = (sim / "dvc.yaml").read_text()
    (sim / "dvc.yaml").write_text(text.replace("cmd: python -m stages.", "cmd: python sleep_stage.py "))
    (sim / "sleep_stage.py").write_text(SLEEP_STAGE)
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=sim, check=True)
    return sim


def write_plan(sim: Path, source: Path, seconds: dict[str, float], default: float, scale: float
               ) -> tuple[dict[str, list[str]], dict[str, float], list[str]]:
    """Write simulation.json (each stage's sleep and outputs: a folder where the real study's is one).

    Returns the graph, each stage's sleep, and the stages the measured run lacked (given `default`)."""
    plan, filled_in = {}, []
    with parallel.open_repo(sim) as repo:
        upstream = parallel.stage_graph(repo)
        for stage in repo.index.stages:
            if stage.name not in seconds:
                filled_in.append(stage.name)
            outs = [(out.def_path, (source / out.def_path).is_dir() or not Path(out.def_path).suffix)
                    for out in stage.outs]
            plan[stage.name] = {"seconds": seconds.get(stage.name, default) * scale, "outs": outs}
    (sim / "simulation.json").write_text(json.dumps(plan))
    return upstream, {name: p["seconds"] for name, p in plan.items()}, sorted(filled_in)


def critical_path(upstream: dict[str, list[str]], seconds: dict[str, float]) -> float:
    """The longest chain of stage durations through the graph: no number of workers finishes sooner."""
    finish: dict[str, float] = {}

    def done_at(name: str) -> float:
        if name not in finish:
            finish[name] = seconds[name] + max((done_at(u) for u in upstream[name]), default=0.0)
        return finish[name]

    return max(done_at(name) for name in upstream)


def simulate(workers: list[int], source: Path, report: Path, scale: float = 1.0) -> dict:
    """Run the sleeping study at each worker count; wall seconds, speed-up and bounds for each."""
    measured, default = measured_seconds(report)
    with tempfile.TemporaryDirectory() as tmp:
        sim = workspace(Path(tmp), source)
        upstream, seconds, filled_in = write_plan(sim, source, measured, default, scale)
        path, work = critical_path(upstream, seconds), sum(seconds.values())
        rows = {}
        for count in workers:
            start = time.perf_counter()
            run = parallel.run_local(sim, count, force=True, log=lambda _: None, gpus=0)
            if run.failed:
                raise UserError(f"the simulation failed at {count} workers: {run.failed[0]}")
            rows[str(count)] = {"seconds": time.perf_counter() - start, "bound_seconds": max(path, work / count),
                                "bookkeeping_seconds": run.bookkeeping_seconds, "lock_writes": run.lock_writes}
            print(f"{count} worker(s): {rows[str(count)]['seconds']:.1f} s", flush=True)
    one = rows.get("1", {}).get("seconds")  # speed-up against one worker, when that count was run
    for row in rows.values():
        row["speedup"] = one / row["seconds"] if one else None
    stages = len(seconds)
    return {"stages": stages, "scale": scale, "work_seconds": work, "critical_path_seconds": path,
            "serial_seconds_per_stage": {w: r["bookkeeping_seconds"] / stages for w, r in rows.items()},
            "workers": rows, "filled_in": filled_in}


def plot(result: dict, path: Path) -> None:
    """Wall seconds against workers, with the bound (critical path or work ÷ workers) beside them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = sorted(int(w) for w in result["workers"])  # JSON keeps them as strings: "16" before "2"
    rows = [result["workers"][str(c)] for c in counts]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(counts, [r["seconds"] for r in rows], "o-", label="simulated run (real DVC)")
    ax.plot(counts, [r["bound_seconds"] for r in rows], "k--", label="bound: max(critical path, work ÷ workers)")
    ax.set(xscale="log", yscale="log", xlabel="Dask workers", ylabel="wall seconds",
           title=f"The study's {result['stages']} stages as sleeps (durations × {result['scale']:g})")
    ax.set_xticks(counts, [str(c) for c in counts], minor=False)
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.yaxis.set_major_locator(plt.LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    ax.yaxis.set_major_formatter(plt.ScalarFormatter())
    ax.yaxis.set_minor_locator(plt.NullLocator())
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
