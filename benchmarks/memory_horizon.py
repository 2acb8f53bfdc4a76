"""The memory horizon ladder: every cell on the adding problem at T = 25 … 400; per cell, the largest T at
which it still beats the constant baseline by the margin.

    python -m benchmarks.memory_horizon                      # profile memory-horizon at T = 25, 50, 100, 200, 400
    python -m benchmarks.memory_horizon --lengths 25,50 --jobs 2

Each T runs the memory recipe's real DVC stages (`python -m stages.study.parallel`) in its own copy of the
project with the profile's params (benchmarks/profiles.yaml) and `memory.source.length: T`. The margin:
test MSE at most MARGIN × the baseline's (always answering 1.0 leaves the variance of the sum, 1/6), that
is, the cell explains at least 90 % of what the constant cannot. Writes reports/memory_horizon.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.profile import load_profiles, profile_params
from benchmarks.simulate import copy_code
from recipes.kit.atomic import write_json, write_text
from recipes.kit.errors import UserError
from stages.common import cli

ROOT = Path(__file__).resolve().parents[1]
LENGTHS = (25, 50, 100, 200, 400)
MARGIN = 0.1  # test MSE ≤ MARGIN × the constant baseline's MSE
REPORT = ROOT / "reports" / "memory_horizon"


def run_length(root: Path, params: dict, length: int, jobs: int) -> dict:
    """Run the memory stages at T = `length` in root/T<length>; {cell: [test metrics per seed]}, baseline, seconds."""
    work = root / f"T{length}"
    copy_code(ROOT, work)
    params = json.loads(json.dumps(params))
    params["memory"]["source"]["length"] = length
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=work, check=True)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "stages.study.parallel", "--jobs", str(jobs)], cwd=work,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(f"the ladder's run at T = {length} failed: {result.stderr.strip().splitlines()[-1:]}")
    runs: dict[str, list[dict]] = {}
    for path in sorted((work / "metrics" / "runs" / "memory").glob("*.json")):
        record = json.loads(path.read_text())
        runs.setdefault(record["cell"], []).append(record["test"])
    meta = json.loads((work / "data" / "prepared" / "memory" / "meta.json").read_text())
    return {"runs": runs, "baseline": meta["baseline"], "seconds": time.perf_counter() - start}


def horizon(ladder: dict[int, dict]) -> dict[str, int | None]:
    """Per cell, the largest T whose mean test MSE over seeds is within the margin (None: no T is)."""
    best: dict[str, int | None] = {}
    for length, step in sorted(ladder.items()):
        for cell, tests in step["runs"].items():
            mse = sum(t["mse"] for t in tests) / len(tests)
            best.setdefault(cell, None)
            if mse <= MARGIN * step["baseline"]["mse"]:
                best[cell] = length
    return best


def write_report(ladder: dict[int, dict], profile: str) -> None:
    """reports/memory_horizon.json, .md (a table: MSE per cell and T, the horizon) and .png."""
    from stages.study.plots import color, plt
    from stages.study.report import in_order

    horizons = horizon(ladder)
    cells = in_order(horizons)
    mse = {cell: {n: sum(t["mse"] for t in step["runs"][cell]) / len(step["runs"][cell])
                  for n, step in sorted(ladder.items())} for cell in cells}
    write_json(REPORT.with_suffix(".json"), {"profile": profile, "margin": MARGIN, "horizon": horizons,
                                             "mse": mse, "ladder": {str(n): s for n, s in ladder.items()},
                                             "seconds": sum(step["seconds"] for step in ladder.values())})
    lengths = sorted(ladder)
    lines = ["| cell | " + " | ".join(f"MSE at T = {n}" for n in lengths) + " | horizon |",
             "|---|" + "---|" * (len(lengths) + 1)]
    for cell in cells:
        lines.append(f"| {cell} | " + " | ".join(f"{mse[cell][n]:.4f}" for n in lengths)
                     + f" | {horizons[cell] or 'below ' + str(lengths[0])} |")
    baseline = " | ".join(f"{ladder[n]['baseline']['mse']:.4f}" for n in lengths)
    lines.append(f"| always 1.0 (baseline) | {baseline} | |")
    write_text(REPORT.with_suffix(".md"), f"# Memory horizon (profile {profile}, `python -m benchmarks.memory_horizon`)"
               f"\n\nHorizon: the largest T whose test MSE is at most {MARGIN:g} × the baseline's.\n\n"
               + "\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(6, 4))
    for cell in cells:
        ax.plot(lengths, [mse[cell][n] for n in lengths], marker="o", color=color(cell), label=cell)
    ax.plot(lengths, [MARGIN * ladder[n]["baseline"]["mse"] for n in lengths], ":", color="grey",
            label=f"margin ({MARGIN:g} × baseline)")
    ax.set(xscale="log", yscale="log", xlabel="sequence length T (log scale)", ylabel="test MSE (log scale)",
           title="adding problem: where each cell stops remembering")
    ax.set_xticks(lengths, [str(n) for n in lengths])
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(REPORT.with_suffix(".png"), dpi=100)
    plt.close(fig)


def main() -> None:
    """Run the ladder and write the report."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", default=",".join(map(str, LENGTHS)), help="T values, comma-separated")
    ap.add_argument("--jobs", type=int, default=2, help="stages at once in each run (default: 2)")
    ap.add_argument("--profile", default="memory-horizon", help="profile in benchmarks/profiles.yaml")
    args = ap.parse_args()
    lengths = [int(n) for n in args.lengths.split(",")]
    profiles = load_profiles()
    if args.profile not in profiles:
        raise UserError(f"no profile {args.profile!r} in benchmarks/profiles.yaml")
    params = profile_params(ROOT / "params.yaml", profiles[args.profile]["set"])
    ladder = {}
    with tempfile.TemporaryDirectory() as tmp:
        for length in lengths:
            ladder[length] = run_length(Path(tmp), params, length, args.jobs)
            print(f"T = {length}: {ladder[length]['seconds']:.0f} s", flush=True)
    write_report(ladder, args.profile)
    print(f"horizon: {horizon(ladder)}; wrote {REPORT}.json, .md, .png")


if __name__ == "__main__":
    cli.run(main)
