"""The project's own files, wrong but loadable: each case is one `error:` line naming the file, what is
wrong and the `dvc repro` that rebuilds it, exit code 2, no traceback and nothing written.

Each row corrupts one file of a copy of the session's tiny study (sentiment only) and runs one stage
in-process, the way `python -m stages.<stage>` does (`tests.conftest.run_in_process`). Adding a file kind
adds a row.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import pytest
import torch
import yaml

from tests.conftest import run_in_process

RECIPE = "sentiment"
CHECKPOINT = Path(f"models/{RECIPE}/rnn-seed0.pt")
RUN_METRICS = Path(f"metrics/runs/{RECIPE}/rnn-seed0.json")
TUNING = Path(f"data/tuning/{RECIPE}/rnn.json")
META = Path(f"data/prepared/{RECIPE}/meta.json")
DATA = Path(f"data/prepared/{RECIPE}/data.pt")
TIMING = Path(f"reports/timing/{RECIPE}.json")
FACTS = Path(f"data/prepared/{RECIPE}/recipe.json")
COPIED = [f"data/prepared/{RECIPE}", f"data/tuning/{RECIPE}", f"models/{RECIPE}", f"metrics/runs/{RECIPE}",
          f"reports/history/{RECIPE}", str(TIMING), "models/pos/rnn-seed0.pt"]
EVALUATE = ["evaluate", RECIPE, "rnn", "0"]
COMPARE = ["compare"]
PREDICT = ["predict", RECIPE, "rnn", "a fine film"]


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def edit_checkpoint(path: Path, change: Callable[[dict], None]) -> None:
    checkpoint = torch.load(path, weights_only=True)
    change(checkpoint)
    torch.save(checkpoint, path)


CASES = {  # name: (stage argv, corrupt(workspace), the message after "error: ")
    "checkpoint is a bare tensor": (
        EVALUATE, lambda w: torch.save(torch.zeros(3), w / CHECKPOINT),
        f"{CHECKPOINT} is not what this stage expects: its content is Tensor, not a mapping; "
        f"run `dvc repro train@{RECIPE}-rnn-0` to rebuild it"),
    "checkpoint lacks our keys": (
        EVALUATE, lambda w: torch.save({"weights": torch.zeros(2)}, w / CHECKPOINT),
        f"{CHECKPOINT} is not what this stage expects: recipe is missing; run `dvc repro train@{RECIPE}-rnn-0`"),
    "another recipe's checkpoint": (
        EVALUATE, lambda w: shutil.copy(w / "models/pos/rnn-seed0.pt", w / CHECKPOINT),
        f"{CHECKPOINT} holds a 'pos' model, not 'sentiment' (was it copied from another run?); "
        f"run `dvc repro train@{RECIPE}-rnn-0` to train the right one"),
    "another cell's checkpoint": (
        EVALUATE, lambda w: shutil.copy(w / f"models/{RECIPE}/lstm-seed0.pt", w / CHECKPOINT),
        f"{CHECKPOINT} holds a 'lstm' model, not 'rnn'"),
    "weights of another size": (
        EVALUATE, lambda w: edit_checkpoint(w / CHECKPOINT, lambda c: c["train"].update(hidden_size=3)),
        f"{CHECKPOINT} does not fit the model its recipe builds (size mismatch for"),
    "predict on another recipe's checkpoint": (
        PREDICT, lambda w: shutil.copy(w / "models/pos/rnn-seed0.pt", w / CHECKPOINT),
        f"{CHECKPOINT} holds a 'pos' model, not 'sentiment'"),
    "truncated run metrics": (
        COMPARE, lambda w: (w / RUN_METRICS).write_text((w / RUN_METRICS).read_text()[:40]),
        f"{RUN_METRICS} is damaged ("),
    "run metrics without test": (
        COMPARE, lambda w: edit_json(w / RUN_METRICS, lambda d: d.pop("test")),
        f"{RUN_METRICS} is not what this stage expects: test is missing; run `dvc repro evaluate@{RECIPE}-rnn-0`"),
    "tuning result without settings": (
        ["train", RECIPE, "rnn", "0"], lambda w: edit_json(w / TUNING, lambda d: d.pop("settings")),
        f"{TUNING} is not what this stage expects: settings is missing; run `dvc repro tune@{RECIPE}-rnn`"),
    "tuning result with settings as a list": (
        COMPARE, lambda w: edit_json(w / TUNING, lambda d: d.update(settings=[])),
        f"{TUNING} is not what this stage expects: settings is list, not a mapping"),
    "meta without sizes": (
        EVALUATE, lambda w: edit_json(w / META, lambda d: d.pop("sizes")),
        f"{META} is not what this stage expects: sizes is missing; run `dvc repro prepare@{RECIPE}`"),
    "prepared data is a list": (
        EVALUATE, lambda w: torch.save([1, 2], w / DATA),
        f"{DATA} is not what this stage expects: its content is list, not a mapping; "
        f"run `dvc repro prepare@{RECIPE}`"),
    "prepared data from another run": (
        EVALUATE, lambda w: edit_json(w / META, lambda d: d["sizes"].update(test=d["sizes"]["test"] + 1)),
        f"{DATA} does not match its meta.json: no field of its test split has the"),
    "timing without cells": (
        COMPARE, lambda w: edit_json(w / TIMING, lambda d: d.pop("cells")),
        f"{TIMING} is not what this stage expects: cells is missing; run `dvc repro timing@{RECIPE}`"),
    "recipe facts without a headline": (
        COMPARE, lambda w: edit_json(w / FACTS, lambda d: d.pop("headline")),
        f"{FACTS} is not what this stage expects: headline is missing; run `dvc repro prepare@{RECIPE}`"),
}


@pytest.fixture
def workspace(study, tmp_path) -> Path:
    """The tiny study's sentiment files and params (recipes: [sentiment]) in a scratch folder."""
    for name in COPIED:
        source, target = study / name, tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    params = yaml.safe_load((study / "params.yaml").read_text())
    params["recipes"] = [RECIPE]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return tmp_path


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES)
def test_a_wrong_project_file_is_one_line_naming_it_and_the_fix(workspace, monkeypatch, capsys, case):
    argv, corrupt, expected = CASES[case]
    corrupt(workspace)
    before = files_of(workspace)
    code, _, err = run_in_process(argv[0], argv[1:], workspace, monkeypatch, capsys)
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: " + expected), err
    assert files_of(workspace) == before  # nothing written, nothing half-written
