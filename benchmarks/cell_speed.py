"""Cell-kernel speed: forward + backward tokens per second of each registered cell as sequences grow.

    python -m benchmarks.speed --kernels [--cells mingru gru ...] [--lengths 16 64 256 1024]

One layer of each cell on random inputs (batch 32, input 64, hidden 128, every row full length), at
params.yaml's `threads`. Per length and cell: one warm-up pass, then the median of --reps timed
passes of forward + backward of the summed outputs. The fused cells (nn.RNN, nn.GRU, nn.LSTM) step
through time inside one C++ call; the minimal cells run one log-space scan over the whole length.
Writes reports/cell_speed.json, reports/cell_speed.md and the plot
reports/cell_speed.png (reports/plots/ is the compare stage's output, which DVC re-creates).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import matplotlib
import torch

from recipes.cells import build_cell, cell_class
from recipes.kit.atomic import write_json
from stages.study.plots import color

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BATCH, INPUT, HIDDEN = 32, 64, 128
LENGTHS = (16, 64, 256, 1024)


def seconds_per_pass(cell: str, length: int, reps: int) -> float:
    """Median seconds of one forward + backward pass of `cell` over [BATCH, length, INPUT]."""
    torch.manual_seed(0)
    rnn = build_cell(cell, INPUT, HIDDEN)
    x = torch.randn(BATCH, length, INPUT)
    times = []
    for rep in range(reps + 1):
        rnn.zero_grad(set_to_none=True)
        start = time.perf_counter()
        out, _ = rnn(x)
        out.sum().backward()
        if rep:  # the first pass warms up allocators and kernels
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def references(cells: list[str]) -> list[str]:
    """The cells others are measured against: the gated fused PyTorch cells (nn.GRU, nn.LSTM) among `cells`."""
    return [c for c in cells if cell_class(c).family == "fused" and cell_class(c).gated]


def measure(cells: list[str], lengths: list[int], reps: int) -> dict:
    """{cell: {length: tokens per second}} and, per length, each cell's speed over each reference cell's."""
    speed = {cell: {} for cell in cells}
    for length in lengths:
        for cell in cells:
            speed[cell][length] = BATCH * length / seconds_per_pass(cell, length, reps)
            print(f"{cell:>8} length {length:>5}: {speed[cell][length]:>10,.0f} tokens/s (forward + backward)")
    ratios = {cell: {base: {n: speed[cell][n] / speed[base][n] for n in lengths} for base in references(cells)}
              for cell in cells}
    return {"batch": BATCH, "input": INPUT, "hidden": HIDDEN, "threads": torch.get_num_threads(),
            "tokens_per_second": speed, "speed_over": ratios}


def plot(result: dict, path: Path) -> None:
    """Tokens per second against sequence length, one line per cell, log-log."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for cell, speeds in result["tokens_per_second"].items():
        lengths = sorted(speeds)
        ax.plot(lengths, [speeds[n] for n in lengths], marker="o", label=cell, color=color(cell))
    ax.set(xscale="log", yscale="log", xlabel="sequence length", ylabel="tokens / s (forward + backward)",
           title=f"one layer, batch {result['batch']}, hidden {result['hidden']}, {result['threads']} thread(s)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(result: dict) -> str:
    """A table: tokens per second per cell and length, and each cell's speed over the first reference cell."""
    speeds = result["tokens_per_second"]
    lengths = sorted(next(iter(speeds.values())))
    base = next(iter(references(list(speeds))), None)
    lines = ["| cell | " + " | ".join(f"T={n}" for n in lengths) + " |", "|---|" + "---|" * len(lengths)]
    for cell, by_length in speeds.items():
        over = result["speed_over"][cell].get(base, {}) if cell != base else {}
        cells = [f"{by_length[n]:,.0f}" + (f" ({over[n]:.2f}× {base})" if over else "") for n in lengths]
        lines.append(f"| {cell} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(cells: list[str], lengths: list[int], reps: int, out: Path) -> dict:
    """Measure, then write reports/cell_speed.json, cell_speed.md and cell_speed.png under `out`."""
    result = measure(cells, lengths, reps)
    write_json(out / "cell_speed.json", result)
    (out / "cell_speed.md").write_text(markdown(result) + "\n")
    plot(result, out / "cell_speed.png")
    print(markdown(result))
    return result
