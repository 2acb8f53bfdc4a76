"""Translation benchmark: the recipe on Multi30k at the published model size, and beam search speed.

    python -m benchmarks.profile translation --set translation.source.dataset=local \
        --set translation.source.local_path=../shared/data/multi30k --write bench.yaml
    python -m benchmarks.translation --params bench.yaml --run     # download … evaluate, timed
    python -m benchmarks.translation --params bench.yaml --wall-seconds N   # report a finished run

Run it in a scratch clone: the stages write data/, models/, metrics/ and reports/ there, not in the
study's outputs. It writes reports/benchmark_translation.json (`multi30k`: the quality, `sacrebleu` among
it; `beam_search`: the speed of batched against per-sentence beams on the test set) and its section
of reports/benchmark.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.parallel import write_section
from recipes import translation
from recipes.kit.atomic import write_text
from recipes.kit.contract import selection_metric
from recipes.kit.params import load_params
from stages.common.runs import load_trained, start_run
from stages.study.summary import load_histories, load_runs, read_prepared

SECTION_START, SECTION_END = "<!-- translation benchmark: benchmarks/translation.py -->", "<!-- end translation -->"
PUBLISHED = {"source": "bentrevett/pytorch-seq2seq nb 3, BiGRU + additive attention", "bleu": 28.3,
             "perplexity": 25.6}
STAGES = ("download", "prepare", "tune", "train", "evaluate")


def run_stages(params_file: Path, cell: str, seed: int) -> float:
    """Every stage of one translation run with `params_file`, in order; their wall seconds."""
    start = time.perf_counter()
    for stage in STAGES:
        args = {"download": [], "prepare": [], "tune": [cell]}.get(stage, [cell, str(seed)])
        subprocess.run([sys.executable, "-m", f"stages.{stage}", "translation", *args, "--params", str(params_file)],
                       check=True)
    return time.perf_counter() - start


@torch.no_grad()
def beam_speed(params_file: Path, cell: str, seed: int) -> dict:
    """Seconds to beam-search the test set batched and one sentence at a time; how many outputs agree."""
    params = load_params(params_file, "translation")
    run = start_run(params, "translation", seed)
    model, _ = load_trained(run, "translation", cell, seed)
    beam = params["translation"]["evaluate"]["beam_size"]
    timed = {}
    for batched in (True, False):
        start = time.perf_counter()
        timed[batched] = run.task.translate(model, "test", beam, batched=batched), time.perf_counter() - start
    same = sum(a == b for a, b in zip(timed[True][0], timed[False][0])) / len(timed[True][0])
    return {"beam_size": beam, "sentences": len(timed[True][0]), "threads": torch.get_num_threads(),
            "device": str(run.device), "batched_seconds": round(timed[True][1], 2),
            "per_sentence_seconds": round(timed[False][1], 2),
            "speedup": round(timed[False][1] / timed[True][1], 2), "identical_outputs": same}


def quality(params_file: Path, cell: str, seed: int, wall_seconds: float) -> dict:
    """The finished run's test metrics, epochs and seconds, as the JSON's `multi30k` entry."""
    params = load_params(params_file, "translation")
    metrics = load_runs("translation", [cell], [seed])[cell][0]
    history = load_histories("translation", cell, [seed])[0]
    meta = read_prepared("translation", "meta.json")
    test = metrics["test"]
    return {
        "dataset": meta["source"]["dataset"], "direction": params["translation"]["source"]["direction"],
        "test_split": "test" if params["translation"]["source"]["dataset"] == "tatoeba" else "test_2016_flickr",
        "sizes": meta["sizes"], "cell": cell, "seed": seed,
        "model": dict(params["translation"]["model"]), "train": dict(params["translation"]["train"]),
        "parameters": metrics["parameters"], "epochs_run": metrics["epochs_run"], "best_epoch": metrics["best_epoch"],
        "selected_by": selection_metric(translation, params["translation"]),
        "valid_metric_by_epoch": [round(row["valid_metric"], 4) for row in history],
        "train_seconds": round(metrics["train_seconds"], 1), "wall_seconds": round(wall_seconds, 1),
        "threads": params["threads"], "device": params["device"],
        "sacrebleu": round(test["sacrebleu"], 2), "sacrebleu_signature": meta["sacrebleu_signature"],
        "token_bleu": round(100 * test["bleu"], 2), "perplexity": round(test["perplexity"], 2),
        "exact_match": round(test["exact_match"], 4), "published": PUBLISHED,
    }


def markdown(result: dict) -> str:
    """The benchmark.md section."""
    q, b = result["multi30k"], result["beam_search"]
    return "\n".join([
        SECTION_START,
        "## Translation on Multi30k (benchmarks/translation.py)",
        "",
        f"{q['cell'].upper()} encoder-decoder, embed {q['model']['embed_dim']}, hidden {q['model']['hidden_size']}, "
        f"{q['model']['num_layers']} layers, bidirectional encoder, {q['model']['attention']} attention, dropout "
        f"{q['model']['dropout']} ({q['parameters']:,} parameters); {q['direction']}, test on {q['test_split']}; "
        f"{q['epochs_run']} epochs (best {q['best_epoch']} by validation {q['selected_by']}), "
        f"{q['wall_seconds'] / 60:.0f} min wall on {q['threads']} CPU thread(s).",
        "",
        "| metric | ours | published (BiGRU + attention) |",
        "|---|---|---|",
        f"| sacreBLEU (`{q['sacrebleu_signature'].replace('|', '¦')}`) | {q['sacrebleu']:.1f} | — |",
        f"| token BLEU (torchtext, raw references) | {q['token_bleu']:.1f} | {PUBLISHED['bleu']} |",
        f"| perplexity | {q['perplexity']:.1f} | {PUBLISHED['perplexity']} |",
        "",
        "The published numbers use spaCy tokens; ours are torchtext `basic_english` tokens (lower-cased), so "
        "token BLEU and perplexity compare only roughly; sacreBLEU re-tokenises both sides the same way.",
        "",
        f"Beam search (beam {b['beam_size']}) over the {b['sentences']} test sentences, {b['threads']} thread(s): "
        f"batched {b['batched_seconds']:.1f} s, one sentence at a time {b['per_sentence_seconds']:.1f} s: "
        f"**{b['speedup']:.1f}×**; identical outputs: {100 * b['identical_outputs']:.1f} %.",
        SECTION_END,
    ])


def main() -> None:
    """Run (or read) the benchmark run and write its JSON and benchmark.md section."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, required=True, help="params file (python -m benchmarks.profile --write)")
    ap.add_argument("--cell", help="default: the first of the params file's cells")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run", action="store_true", help="run the stages first and time them")
    ap.add_argument("--wall-seconds", type=float, help="wall time of a run made without --run")
    ap.add_argument("--out", type=Path, default=Path("reports"), help="folder for the JSON and benchmark.md")
    args = ap.parse_args()
    if not args.run and args.wall_seconds is None:
        ap.error("give --run, or --wall-seconds for a run already made")
    args.cell = args.cell or load_params(args.params)["cells"][0]
    wall = run_stages(args.params, args.cell, args.seed) if args.run else args.wall_seconds
    result = {"multi30k": quality(args.params, args.cell, args.seed, wall),
              "beam_search": beam_speed(args.params, args.cell, args.seed)}
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "benchmark_translation.json", json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    write_section(args.out / "benchmark.md", markdown(result), SECTION_START, SECTION_END)
    print(markdown(result))


if __name__ == "__main__":
    main()
