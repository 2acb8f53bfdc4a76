"""Seeded train/valid/test splits of raw rows, and the prepared-data files."""

from __future__ import annotations

import json
import random
from pathlib import Path

from recipes.kit.atomic import atomic_path, load_torch, read_json, write_torch
from recipes.kit.errors import UserError
from recipes.kit.files import META, SPLITS, read_checked_json, require
from recipes.kit.rows import RowFormat, read_rows


def carve(raw_dir: Path, fmt: RowFormat, valid_fraction: float, test_fraction: float, seed: int,
          max_examples: int = 0) -> dict[str, list[dict]]:
    """Rows for train/valid/test, each checked against `fmt`: the source's own splits
    where it has them, else carved from train with a seeded shuffle.
    `max_examples` (0 = all) caps the training rows after carving."""
    train_path = raw_dir / "train.jsonl"
    if not train_path.exists():
        raise UserError(f"{train_path} is missing: run `dvc repro download@{raw_dir.name}` to fetch it")
    train = read_rows(train_path, fmt)
    random.Random(seed).shuffle(train)
    splits, total = {}, len(train)
    for name, file, fraction in (("test", "test.jsonl", test_fraction), ("valid", "validation.jsonl", valid_fraction)):
        if (raw_dir / file).exists():
            splits[name] = read_rows(raw_dir / file, fmt)
        else:
            n = int(round(total * fraction))
            if n == 0:
                raise UserError(f"{raw_dir} has no {file}, and {name}_fraction {fraction} of {total} training rows "
                                f"is no row: add the file, or raise {raw_dir.name}.data.{name}_fraction")
            splits[name], train = train[:n], train[n:]
    splits["train"] = train[:max_examples] if max_examples else train
    if not splits["train"]:
        raise UserError(f"{train_path} has {total} rows, too few to carve valid and test splits from and "
                        "keep any for training: add rows or lower the fractions")
    return {k: splits[k] for k in ("train", "valid", "test")}


def save_prepared(out_dir: Path, tensors: dict, itos: list[str] | dict, meta: dict, card: str = "") -> None:
    """Write data.pt, vocab.json, meta.json and the dataset card README.md (when given) as one directory,
    atomically."""
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        if card:
            (tmp / "README.md").write_text(card)
        write_torch(tmp / "data.pt", tensors)
        (tmp / "vocab.json").write_text(json.dumps(itos, ensure_ascii=False))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def _remake(data_dir: Path) -> str:
    return f"dvc repro prepare@{Path(data_dir).name}"


def load_meta(data_dir: Path) -> dict:
    """meta.json of a prepared recipe."""
    return read_checked_json(Path(data_dir) / "meta.json", META, _remake(data_dir))


def _rows(value: object) -> int | None:
    """len() of a tensor or list (its first dimension), None for anything without one."""
    try:
        return len(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def load_prepared(data_dir: Path) -> tuple[dict, list[str] | dict, dict]:
    """(tensors by split, vocabulary, meta) as written by `save_prepared`; tensors load as data only."""
    path = Path(data_dir) / "data.pt"
    tensors = require(load_torch(path, _remake(data_dir)), SPLITS, path, _remake(data_dir))
    meta = load_meta(data_dir)
    for split, size in meta["sizes"].items():  # each split holds a field of exactly `size` rows
        if split in tensors and not any(_rows(v) == size for v in tensors[split].values()):
            raise UserError(f"{path} does not match its meta.json: no field of its {split} split has the "
                            f"{size} rows meta.json counts; run `{_remake(data_dir)}` to rebuild both")
    itos = read_json(Path(data_dir) / "vocab.json", _remake(data_dir))
    return tensors, itos, meta
