"""Seeded train/valid/test splits of raw rows, and the prepared-data files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch

from recipes.atomic import atomic_path
from recipes.errors import UserError
from recipes.sources import read_jsonl


def carve(raw_dir: Path, valid_fraction: float, test_fraction: float, seed: int,
          max_examples: int = 0) -> dict[str, list[dict]]:
    """Rows for train/valid/test: the source's own splits where it has them,
    else carved from train with a seeded shuffle. `max_examples` (0 = all)
    caps the training rows after carving."""
    train_path = raw_dir / "train.jsonl"
    if not train_path.exists():
        raise UserError(f"{train_path} is missing: run `dvc repro` so the download stage fills {raw_dir}")
    train = read_jsonl(train_path)
    random.Random(seed).shuffle(train)
    splits, total = {}, len(train)
    for name, file, fraction in (("test", "test.jsonl", test_fraction), ("valid", "validation.jsonl", valid_fraction)):
        if (raw_dir / file).exists():
            splits[name] = read_jsonl(raw_dir / file)
        else:
            n = int(round(total * fraction))
            if n == 0:
                raise UserError(f"{raw_dir} has no {file}: set a {name}_fraction > 0 to carve one from train")
            splits[name], train = train[:n], train[n:]
    splits["train"] = train[:max_examples] if max_examples else train
    if not splits["train"]:
        raise UserError(f"{raw_dir}: no training rows left after carving valid and test")
    return {k: splits[k] for k in ("train", "valid", "test")}


def save_prepared(out_dir: Path, tensors: dict, itos: list[str] | dict, meta: dict) -> None:
    """Write data.pt, vocab.json and meta.json as one directory, atomically."""
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        torch.save(tensors, tmp / "data.pt")
        (tmp / "vocab.json").write_text(json.dumps(itos, ensure_ascii=False))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def load_meta(data_dir: Path) -> dict:
    """meta.json of a prepared recipe."""
    path = Path(data_dir) / "meta.json"
    if not path.exists():
        raise UserError(f"{path} is missing: run `dvc repro` so the prepare stage writes it")
    return json.loads(path.read_text())


def load_prepared(data_dir: Path) -> tuple[dict, list[str] | dict, dict]:
    """(tensors by split, vocabulary, meta) as written by `save_prepared`."""
    meta = load_meta(data_dir)
    tensors = torch.load(Path(data_dir) / "data.pt")
    itos = json.loads((Path(data_dir) / "vocab.json").read_text())
    return tensors, itos, meta
