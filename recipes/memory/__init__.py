"""Memory: how far back a cell remembers — the adding problem or selective copying, at a length T.

    python -m stages.train memory gru 0   (run by `dvc repro`)

Both tasks hide what matters among many steps that do not (recipes/memory/data.py): a cell must
keep it in its state across T steps, and the gradient that teaches it must flow back as far
(stages/evaluate.py measures it, step by step). Every test set is also scored at other lengths
(`data.eval_multiples` × T), reported as `accuracy@<length>`, to show whether what a cell learned
holds on sequences longer than it was trained on.

No download: `download` records the task's definition (SOURCE.json) and `prepare` generates every
split from `seed`, each split and test length from its own generator seed.
"""

from __future__ import annotations

from pathlib import Path

from recipes.kit import sources
from recipes.kit.contract import HIGHER, LOWER
from recipes.kit.engine import TRAIN_SCHEMA
from recipes.kit.errors import UserError
from recipes.kit.params import MODEL_SCHEMA, Field
from recipes.kit.splits import save_prepared
from recipes.memory import data
from recipes.memory.task import build_model, make_task, predict

TOPOLOGY = "many-to-one (adding) or many-to-many after a delimiter (selective copy), over long inputs"
METRIC = "accuracy"  # adding: answers within 0.04 of the sum; selective_copy: data tokens recalled
HEADLINE = "accuracy"
# A metric `name@L` is `name` on test inputs of length L, with the same direction.
DIRECTIONS = {"accuracy": HIGHER, "mse": LOWER, "sequence_accuracy": HIGHER, "loss": LOWER}
SCHEMA = {
    "source": {
        "dataset": Field(str, choices=("generated",)),
        "task": Field(str, choices=("adding", "selective_copy")),
        "length": Field(int, min=2),  # T: steps of the input (selective_copy: before the K query steps)
        "copy_tokens": Field(int, min=1),  # K (selective_copy)
        "vocab_size": Field(int, min=2),  # data tokens (selective_copy)
    },
    "data": {
        "train_examples": Field(int, min=1),
        "valid_examples": Field(int, min=1),
        "test_examples": Field(int, min=1),
        "eval_multiples": Field(list),  # test lengths as multiples of T, e.g. [0.5, 1, 2, 4]
    },
    # The answer comes after the whole input: no bidirectional layer. embed_dim: selective_copy's tokens.
    "model": {k: v for k, v in MODEL_SCHEMA.items() if k != "bidirectional"},
    "train": TRAIN_SCHEMA,
    "evaluate": {"samples": Field(int, min=0)},
}


def check(section: dict) -> None:
    """What the schema cannot say field by field: K below T, positive evaluation multiples."""
    source, multiples = section["source"], section["data"]["eval_multiples"]
    if source["task"] == "selective_copy" and source["copy_tokens"] >= source["length"]:
        raise UserError(f"params.yaml: memory.source.copy_tokens (K = {source['copy_tokens']}) must be below "
                        f"memory.source.length (T = {source['length']}): K data tokens are hidden among T steps")
    bad = [m for m in multiples if isinstance(m, bool) or not isinstance(m, (int, float)) or m <= 0]
    if not multiples or bad:
        raise UserError(f"params.yaml: memory.data.eval_multiples must be a non-empty list of positive numbers "
                        f"(multiples of the training length, e.g. [0.5, 1, 2, 4]), got {multiples!r}")


def download(section: dict, raw_dir: Path, seed: int) -> None:
    """Nothing to fetch: record the task's definition, which `prepare` generates from."""
    source = section["source"]
    task = source["task"]
    info = {"dataset": f"generated {task}", "source": "generated", "task": task, "length": source["length"]}
    if task == "selective_copy":
        info.update(copy_tokens=source["copy_tokens"], vocab_size=source["vocab_size"])
    sources.write_source(raw_dir, info)


def prepare(section: dict, raw_dir: Path, out_dir: Path, seed: int) -> None:
    """Generate train, valid and test at T, and the test split again at each evaluation length."""
    source, sizes = sources.read_source(raw_dir), section["data"]
    length = source["length"]
    tensors = {name: data.generate(source, sizes[f"{name}_examples"], length, data.split_seed(seed, offset))
               for name, offset in data.SPLIT_OFFSETS.items()}
    lengths = [n for n in data.scored_lengths(length, sizes["eval_multiples"]) if n != length]
    for i, other in enumerate(lengths):
        tensors[f"test@{other}"] = data.generate(source, sizes["test_examples"], other,
                                                 data.split_seed(seed, len(data.SPLIT_OFFSETS) + i))
    meta = {"task": source["task"], "length": length, "test_lengths": sorted([length, *lengths]),
            "vocab_size": len(data.vocabulary(source)), "unit": "examples",
            "copy_tokens": source.get("copy_tokens"), "sizes": {k: len(v["targets"]) for k, v in tensors.items()},
            "baseline": data.baseline(source, tensors["test"]["targets"]), "source": source}
    save_prepared(out_dir, tensors, data.vocabulary(source), meta)


__all__ = ["DIRECTIONS", "HEADLINE", "METRIC", "SCHEMA", "TOPOLOGY", "build_model", "check", "download",
           "make_task", "predict", "prepare"]
