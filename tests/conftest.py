"""Shared fixtures: tiny raw datasets written by the tests themselves (no network)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

POSITIVE = ["a gorgeous , moving film", "great fun and smart", "warm funny and wise", "a delight from start to end",
            "brilliant acting and a great story", "smart funny moving", "a great warm film"]
NEGATIVE = ["a dull , lifeless mess", "boring and far too long", "bad acting and a weak story",
            "tedious dull and flat", "a mess from start to end", "weak boring film", "lifeless and bad"]


def sentiment_rows(n: int = 60) -> list[dict]:
    """Alternating positive and negative rows in the sentiment raw format."""
    rows = []
    for i in range(n):
        pool, label = (POSITIVE, "pos") if i % 2 == 0 else (NEGATIVE, "neg")
        rows.append({"text": pool[i % len(pool)], "label": label})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Rows as JSON lines."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def params() -> dict:
    """The committed params.yaml, as a dict the tests may change."""
    return copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))


@pytest.fixture
def sentiment_local(tmp_path: Path) -> Path:
    """A folder with a local sentiment dataset (train.jsonl only)."""
    folder = tmp_path / "sentiment_local"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", sentiment_rows())
    return folder
