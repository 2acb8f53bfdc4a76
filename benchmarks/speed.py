"""Training-speed benchmark: how close the engine runs to the recurrent kernels.

    python -m benchmarks.speed [--recipes pos translation] [--cells gru] [--max-batches 100]
    python -m benchmarks.speed --kernels [--cells mingru gru] [--lengths 16 64 256 1024]   (benchmarks/cell_speed.py)

For each recipe × cell, on the prepared embedded data (run `dvc repro` first),
in one process:
  (a) engine   — `recipes.kit.engine.train_epoch` over one epoch's batches, plus
                 building that epoch's batch order: model, loss, backward,
                 clipping, optimiser, NaN check, tqdm, loss bookkeeping;
  (b) tight    — the same model and batches (index lists built beforehand):
                 task.step + backward + the recipe's clipping + optimiser step;
  (c) bare     — only the model's recurrent layers, forward + backward on
                 random inputs of exactly the shapes and lengths they saw in (b).
After a warm-up epoch, each of --reps epochs runs (a) and (b) interleaved:
the batches go in chunks of --chunk, and every chunk is trained by the engine
and by the tight loop in alternating order (a b, b a, ...). On a shared VM
machine speed drifts by ±10 % over seconds, so timing whole epochs one after
the other compares drift, not code; interleaved chunks see the same machine.
The engine is called once per chunk, so its per-call overhead counts more
often than in a real epoch (a/b errs low). Each epoch gives one a/b; the
benchmark reports their median and range, and median times for (a), (b), (c).
Prints real (non-pad) tokens per second for each, a/b and b/c, and padding
waste (padded positions / processed positions in the recurrent layers), and
writes reports/benchmark.md and reports/benchmark.json (the study does not
depend on them).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from benchmarks import cell_speed, translation
from benchmarks.parallel import kept_section
from recipes.cells import UnpackedRecurrent, cell_names
from recipes.cells.recurrent import Recurrent
from recipes.kit.atomic import write_json, write_text
from recipes.kit.batching import random_batches
from recipes.kit.engine import seed_everything, set_threads, train_epoch
from recipes.kit.params import load_params
from recipes.kit.sizing import hidden_size_for
from stages.common import cli, paths
from stages.common.runs import build, start_run


def recurrent_layers(module: torch.nn.Module) -> list[torch.nn.Module]:
    """The outermost recurrent modules in `module`: each `Recurrent`, and each `UnpackedRecurrent` as one unit
    (the one-direction `Recurrent`s inside it see no lengths: the padding they run over is its waste)."""
    if isinstance(module, (Recurrent, UnpackedRecurrent)):
        return [module]
    return [layer for child in module.children() for layer in recurrent_layers(child)]


def record_shapes(model: torch.nn.Module, log: list) -> list:
    """Hook every recurrent layer to log (layer, input shape, lengths) of each call."""
    handles = []
    for module in recurrent_layers(model):
        def hook(mod, args, kwargs, mod_ref=module):
            x = args[0]
            lengths = args[1] if len(args) > 1 else kwargs.get("lengths")
            log.append((mod_ref, tuple(x.shape), None if lengths is None else lengths.clone()))
        handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
    return handles


def time_engine(run, model, opt, batches, cfg) -> float:
    """(a) seconds for the engine's training pass over `batches`."""
    start = time.perf_counter()
    train_epoch(run.task, model, opt, cfg, batches, 1)
    return time.perf_counter() - start


def time_tight(run, model, opt, batches, cfg) -> tuple[float, int]:
    """(b) seconds and real tokens for step + backward (+ the recipe's gradient clipping) + optimiser step."""
    model.train()
    tokens = 0
    start = time.perf_counter()
    for batch in batches:
        opt.zero_grad(set_to_none=True)
        step = run.task.step(model, batch)
        step.loss.backward()
        if cfg["clip"] > 0:  # part of the training math, not engine overhead
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
        opt.step()
        tokens += step.tokens
    return time.perf_counter() - start, tokens


def time_batch_order(run) -> float:
    """Seconds to build one epoch's batch order, the engine's per-epoch batching."""
    start = time.perf_counter()
    run.task.train_batches(torch.Generator().manual_seed(1))  # a private generator: global RNGs stay as they are
    return time.perf_counter() - start


def time_bare(calls: list, reps: int) -> tuple[float, float]:
    """(c) median seconds over `reps` for the recurrent layers alone on the recorded shapes; padding waste."""
    inputs = [(m, torch.randn(shape, requires_grad=True), lengths) for m, shape, lengths in calls]
    real = sum(int(lengths.sum()) if lengths is not None else shape[0] * shape[1] for _, shape, lengths in calls)
    processed = sum(shape[0] * shape[1] for _, shape, _ in calls)
    runs = []
    for _ in range(reps):
        start = time.perf_counter()
        for module, x, lengths in inputs:
            out = module(x, lengths)
            (out[0] if isinstance(out, tuple) else out).sum().backward()  # Recurrent: (outputs, state)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), 1 - real / processed


def time_interleaved(run, model, batches, cfg, reps: int, chunk: int,
                     shapes: list | None = None) -> tuple[list[float], list[float], int]:
    """Per epoch, engine and tight-loop seconds over the same batches, interleaved chunk by chunk.

    The warm-up epoch logs the recurrent layers' calls into `shapes` when given (see `record_shapes`).
    """
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    handles = record_shapes(model, shapes) if shapes is not None else []
    time_tight(run, model, opt, batches, cfg)  # warm-up: kernels and allocator caches see every batch shape once
    for handle in handles:
        handle.remove()
    chunks = [batches[i : i + chunk] for i in range(0, len(batches), chunk)]
    engine_runs, tight_runs = [], []
    for rep in range(reps):
        engine_s, tight_s, tokens = time_batch_order(run), 0.0, 0
        for k, part in enumerate(chunks):
            engine_first = (rep + k) % 2 == 0
            if engine_first:
                engine_s += time_engine(run, model, opt, part, cfg)
            seconds, part_tokens = time_tight(run, model, opt, part, cfg)
            tight_s, tokens = tight_s + seconds, tokens + part_tokens
            if not engine_first:
                engine_s += time_engine(run, model, opt, part, cfg)
        engine_runs.append(engine_s)
        tight_runs.append(tight_s)
    return engine_runs, tight_runs, tokens


def bench_one(params: dict, recipe: str, cell: str, max_batches: int, shuffled: bool = False,
              reps: int = 5, chunk: int = 8) -> dict:
    """Measure (a), (b), (c) for one recipe × cell over `reps` interleaved epochs
    (`shuffled`: plain random batches instead of length buckets)."""
    run = start_run(params, recipe, 0)
    cfg = params[recipe]["train"]
    hidden = hidden_size_for(run.recipe, params, recipe, run.meta, cell)
    batches = run.task.train_batches(seed_everything(0))
    if shuffled:
        batches = random_batches(sum(len(b) for b in batches), cfg["batch_size"], seed_everything(0))
    batches = batches[:max_batches]
    model = build(run, cell, hidden)
    calls: list = []
    engine_runs, tight_runs, tokens = time_interleaved(run, model, batches, cfg, reps, chunk, calls)
    bare_s, waste = time_bare(calls, reps)
    ratios = [tight / engine for engine, tight in zip(engine_runs, tight_runs)]  # a/b of each epoch
    a, b = tokens / statistics.median(engine_runs), tokens / statistics.median(tight_runs)
    return {"recipe": recipe, "cell": cell, "batching": "shuffled" if shuffled else "bucketed",
            "batches": len(batches), "tokens": tokens, "epochs": reps, "chunk": chunk,
            "engine_tok_s": a, "tight_tok_s": b, "bare_tok_s": tokens / bare_s,
            "a_over_b": statistics.median(ratios), "a_over_b_min": min(ratios), "a_over_b_max": max(ratios),
            "b_over_c": bare_s / statistics.median(tight_runs), "padding_waste": waste}


def markdown(rows: list[dict], threads: int) -> str:
    """The benchmark table."""
    epochs, chunk = (rows[0]["epochs"], rows[0]["chunk"]) if rows else (0, 0)
    plural = "s" if threads != 1 else ""
    lines = [f"# Training-speed benchmark\n\n`python -m benchmarks.speed`, {threads} thread{plural} "
             "(params.yaml `threads`), "
             f"torch {torch.__version__}. Real (non-pad) tokens per second through the recurrent layers' "
             "task: (a) engine epoch, (b) tight loop, (c) bare recurrent layers on the same shapes "
             f"(median of {epochs} epochs each). (a) and (b) train the same epoch interleaved in chunks of "
             f"{chunk} batches; a/b is the median of the {epochs} epochs' ratios, with their range.\n",
             "| recipe | cell | batching | engine (a) | tight loop (b) | bare cell (c) | a/b | a/b range | b/c "
             "| padding waste |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['recipe']} | {r['cell']} | {r['batching']} | {r['engine_tok_s']:,.0f} | "
                     f"{r['tight_tok_s']:,.0f} | {r['bare_tok_s']:,.0f} | {r['a_over_b']:.2f} | "
                     f"{r['a_over_b_min']:.2f}–{r['a_over_b_max']:.2f} | {r['b_over_c']:.2f} | "
                     f"{r['padding_waste']:.1%} |")
    return "\n".join(lines) + "\n"


def progress_line(r: dict) -> str:
    """One row of the benchmark as a console line."""
    return (f"{r['recipe']:12s} {r['cell']:5s} {r['batching']:9s} a {r['engine_tok_s']:9,.0f}  "
            f"b {r['tight_tok_s']:9,.0f}  c {r['bare_tok_s']:9,.0f} tok/s  "
            f"a/b {r['a_over_b']:.2f} ({r['a_over_b_min']:.2f}–{r['a_over_b_max']:.2f})  "
            f"b/c {r['b_over_c']:.2f}  waste {r['padding_waste']:.1%}")


def main() -> None:
    """Run the benchmark over the chosen recipes and cells."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", nargs="*", help="default: params.yaml's recipes")
    ap.add_argument("--cells", nargs="*", help="default: params.yaml's cells")
    ap.add_argument("--max-batches", type=int, default=10**9, help="cap batches per measurement")
    ap.add_argument(
        "--reps", type=int, default=5, help="interleaved (engine, tight) epochs per recipe × cell; medians count"
    )
    ap.add_argument("--chunk", type=int, default=8, help="batches per interleaved engine / tight-loop chunk")
    ap.add_argument("--shuffled", action="store_true", help="also measure plain random batches, for comparison")
    ap.add_argument("--out", default="reports", help="folder for benchmark.md and benchmark.json")
    ap.add_argument("--kernels", action="store_true",
                    help="instead: each cell's forward + backward speed alone at --lengths (default: every cell)")
    ap.add_argument("--lengths", nargs="*", type=int, default=list(cell_speed.LENGTHS), help="--kernels: lengths")
    args = ap.parse_args()
    params = load_params()
    set_threads(params["threads"])
    if args.kernels:
        cell_speed.run(args.cells or list(cell_names()), args.lengths, args.reps, Path(args.out))
        return
    rows = []
    for recipe in args.recipes or params["recipes"]:
        if not (paths.PREPARED / recipe / "data.pt").exists():
            raise cli.UserError(f"no prepared data for {recipe}: run `dvc repro prepare@{recipe}` first")
        params = load_params("params.yaml", recipe)  # validates this recipe's section
        modes = (False, True) if args.shuffled else (False,)
        for cell, shuffled in [(c, s) for c in args.cells or params["cells"] for s in modes]:
            rows.append(bench_one(params, recipe, cell, args.max_batches, shuffled, args.reps, args.chunk))
            print(progress_line(rows[-1]))
    report = Path(args.out) / "benchmark.md"
    kept = kept_section(report) + kept_section(report, translation.SECTION_START, translation.SECTION_END)
    write_text(report, markdown(rows, torch.get_num_threads()) + kept)
    write_json(Path(args.out) / "benchmark.json", rows)


if __name__ == "__main__":
    cli.run(main)
