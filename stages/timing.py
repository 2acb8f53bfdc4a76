"""Stage: a controlled cost measurement for one recipe: each cell's training-step time, interleaved.

    python -m stages.timing pos      (run by `dvc repro`: stage timing@pos)

A run's own wall clock is taken minutes apart from the other cells' on a
shared machine, so it compares the machine's load, not the cells. Here every
cell trains on the same batches (spread over one epoch) in one process: after a warm-up, each of
ROUNDS rounds times STEPS optimiser steps of every cell, in an order that
rotates from round to round, so drift and neighbours slow every cell alike.
Reported: the median over rounds of seconds per step, and that times the
batches of one epoch. Writes reports/timing/<recipe>.json.
"""

from __future__ import annotations

import statistics
import time

from recipes.cells import count_parameters
from recipes.kit.atomic import write_json
from recipes.kit.engine import make_optimizer, train_step
from recipes.kit.params import load_params
from recipes.kit.sizing import hidden_size_for
from stages.common import cli, paths
from stages.common.runs import Run, build, start_run

ROUNDS, STEPS, WARMUP = 7, 8, 2
SEED = 0


def timed_steps(run: Run, model, opt, batches: list) -> float:
    """Seconds per optimiser step of `model` over `batches`."""
    start = time.perf_counter()
    for batch in batches:
        train_step(run.task, model, opt, run.section["train"], batch)
    return (time.perf_counter() - start) / len(batches)


def interleaved(run: Run, models: dict, batches: list) -> dict[str, list[float]]:
    """Per cell, seconds per step in each round; the cells' order rotates by one each round."""
    optimizers = {cell: make_optimizer(model, run.section["train"]) for cell, model in models.items()}
    cells = list(models)
    for cell in cells:  # warm-up: allocator, kernels, caches
        timed_steps(run, models[cell], optimizers[cell], batches[:WARMUP])
    times: dict[str, list[float]] = {cell: [] for cell in cells}
    for round_ in range(ROUNDS):
        for cell in cells[round_ % len(cells):] + cells[:round_ % len(cells)]:
            times[cell].append(timed_steps(run, models[cell], optimizers[cell], batches))
    return times


def main() -> None:
    """Write reports/timing/<recipe>.json: per cell, median seconds per step and per epoch."""
    args = cli.parser(__doc__).parse_args()
    params = load_params(args.params, args.recipe)
    run = start_run(params, args.recipe, SEED)
    epoch = run.task.train_batches(run.generator)
    batches = epoch[:: max(1, len(epoch) // STEPS)][:STEPS]  # spread over the epoch's length buckets
    models = {cell: build(run, cell, hidden_size_for(run.recipe, params, args.recipe, run.meta, cell))
              for cell in params["cells"]}
    times = interleaved(run, models, batches)
    cells = {}
    for cell, rounds in times.items():
        step = statistics.median(rounds)
        cells[cell] = {"parameters": count_parameters(models[cell]), "seconds_per_step": step,
                       "seconds_per_epoch": step * len(epoch), "rounds": rounds}
        print(f"{args.recipe} {cell}: {step * 1000:.1f} ms per step, {step * len(epoch):.1f} s per epoch")
    method = (f"median of {ROUNDS} interleaved rounds (cell order rotating) of {len(batches)} training steps on "
              f"the same batches, after {WARMUP} warm-up steps, in one process; per epoch = per step × "
              f"{len(epoch)} batches")
    write_json(paths.TIMING / f"{args.recipe}.json", {"recipe": args.recipe, "method": method, "cells": cells})


if __name__ == "__main__":
    cli.run(main)
