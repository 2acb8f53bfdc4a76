"""Broken and hostile input end to end: bad rows in every recipe's local data, crafted and truncated
torch files, a diverging run and a full disk — one line each, exit 2, no output changed."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from recipes import captioning
from recipes.kit.atomic import atomic_path, atomic_paths, load_torch, write_torch
from recipes.kit.contract import load_recipe
from recipes.kit.errors import UserError
from recipes.kit.splits import load_prepared
from tests.conftest import ROOT, recipe_tests

# Recipes whose local dataset is JSON lines in their raw format; captioning reads image folders instead
# (captions.txt or a Karpathy JSON), checked in tests/test_captioning_local.py.
LOCAL_RECIPES = [r for r in yaml.safe_load((ROOT / "params.yaml").read_text())["recipes"]
                 if "local" in load_recipe(r).SCHEMA["source"]["dataset"].choices and r != "captioning"]


def local_section(params: dict, name: str, fixtures: Path) -> dict:
    """The recipe's params on a local dataset: its tiny fixture files, in the raw format."""
    section = params[name]
    recipe_tests(name).tiny(section, fixtures)
    section["source"].update(dataset="local", local_path=str(fixtures))
    if not (fixtures / "train.jsonl").exists():  # a generated dataset: write its raw format by its own generator
        fixtures.mkdir(parents=True, exist_ok=True)
        load_recipe(name).download(section | {"source": {**section["source"], "dataset": "embedded"}}, fixtures, 0)
    return section


@pytest.mark.parametrize("name", LOCAL_RECIPES)
def test_every_recipe_names_the_users_bad_line_and_writes_nothing(tmp_path, params, name):
    fixtures, raw = tmp_path / "mine", tmp_path / "raw"
    section = local_section(params, name, fixtures)
    train = fixtures / "train.jsonl"
    with open(train, "ab") as handle:
        handle.write(b'["not", "a", "row"]\n{"broken": \n')
    lines = len(train.read_bytes().splitlines())
    raw.mkdir()
    with pytest.raises(UserError) as err:
        load_recipe(name).download(section, raw, 0)
    message = str(err.value)
    assert message.startswith("2 bad rows: ") and "\n" not in message
    assert f"{train}:{lines - 1}: a row must be a JSON object" in message
    assert f"{train}:{lines}: not valid JSON" in message
    assert not list(raw.iterdir())


def test_the_pos_example_of_the_issue(tmp_path, params):
    section = local_section(params, "pos", tmp_path / "mine")
    train = tmp_path / "mine" / "train.jsonl"
    rows = train.read_text().splitlines()
    rows[10] = '{"tokens": ["the", "dog", "runs", "fast"], "tags": ["DET", "NOUN", "VERB"]}'
    train.write_text("\n".join(rows) + "\n")
    with pytest.raises(UserError, match=f'^1 bad row: {train}:11: "tags" has 3 items but "tokens" has 4$'):
        load_recipe("pos").download(section, tmp_path, 0)


def test_download_stage_exits_2_with_one_line_and_leaves_no_raw_folder(tmp_path, params):
    section = local_section(params, "pos", tmp_path / "mine")
    (tmp_path / "mine" / "train.jsonl").write_text("")
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params | {"pos": section}))
    result = subprocess.run([sys.executable, "-m", "stages.download", "pos", "--params", str(params_file)],
                            capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'mine' / 'train.jsonl'} has no rows: "
                                                  "it needs at least one"]
    assert not (tmp_path / "data").exists() or not list((tmp_path / "data" / "raw").iterdir())


# ------------------------------------------------------------------ torch files are data, never code

class RunsCode:
    """Unpickling this runs a shell command: what a crafted .pt file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_crafted_prepared_file_is_refused_without_running_its_code(tmp_path):
    prepared, marker = tmp_path / "pos", tmp_path / "code-ran"
    prepared.mkdir()
    (prepared / "meta.json").write_text("{}")
    torch.save({"train": RunsCode(marker)}, prepared / "data.pt")
    with pytest.raises(UserError, match="cannot be loaded as data.*run `dvc repro prepare@pos` to rebuild it"):
        load_prepared(prepared)
    assert not marker.exists()


def test_a_truncated_checkpoint_names_the_stage_that_makes_it(tmp_path):
    path = tmp_path / "gru-seed0.pt"
    write_torch(path, {"state_dict": {"w": torch.ones(1000)}})
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(UserError, match=f"{path} cannot be loaded as data .*truncated.*`dvc repro train@pos-gru-0`"):
        load_torch(path, "dvc repro train@pos-gru-0")


def test_a_foreign_captioning_raw_file_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    torch.save({"images": RunsCode(marker)}, tmp_path / "train.pt")
    with pytest.raises(UserError, match="run `dvc repro download@captioning`"):
        captioning.read_strips(tmp_path / "train.pt")
    torch.save({"images": torch.zeros(3, 8, 8), "captions": [["one"]] * 3}, tmp_path / "train.pt")  # float, not uint8
    with pytest.raises(UserError, match="is not a split of digit strips"):
        captioning.read_strips(tmp_path / "train.pt")
    assert not marker.exists()


def test_every_torch_file_the_study_writes_loads_as_data(study):
    files = [*study.glob("models/*/*.pt"), *study.glob("data/prepared/*/data.pt"), *study.glob("data/raw/*/*.pt")]
    assert len(files) > len(list(study.glob("data/prepared/*")))
    for path in files:
        assert load_torch(path, "dvc repro") is not None


# ------------------------------------------------------------------ a failing stage changes none of its outputs

def digests(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def run_stage(study: Path, argv: list[str], params: dict | None = None, limit_bytes: int | None = None):
    """A stage in the tiny study, optionally with other params or a file size limit (a disk that fills up)."""
    if params is not None:
        (study.parent / "other-params.yaml").write_text(yaml.safe_dump(params))
        argv = [*argv, "--params", str(study.parent / "other-params.yaml")]

    def limit():
        if limit_bytes is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, cwd=study,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=limit)


def train_outputs(study: Path, name: str) -> list[Path]:
    return [study / "models" / name / "rnn-seed0.pt", study / "reports" / "history" / name / "rnn-seed0.csv"]


def test_a_diverging_run_stops_with_one_line_and_writes_nothing(study):
    params = yaml.safe_load((study / "params.yaml").read_text())
    name = params["recipes"][0]
    params[name]["train"].update(lr=10.0, clip=0.0, epochs=3, patience=3)
    params["tune"]["trials"] = 0  # untuned: with tuning on, an lr outside tune.space is refused before training
    before = digests(train_outputs(study, name))
    tuning = study / "data" / "tuning" / name / "rnn.json"  # the tiny study is tuned: use params.yaml's lr
    tuned = tuning.read_text()
    try:
        tuning.write_text('{"trials": 0, "settings": {}}')
        result = run_stage(study, ["stages.train", name, "rnn", "0"], params)
    finally:
        tuning.write_text(tuned)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: training diverged: ") and "lower train.lr" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert digests(train_outputs(study, name)) == before


def test_a_full_disk_names_the_file_and_changes_no_output(study):
    name = yaml.safe_load((study / "params.yaml").read_text())["recipes"][0]
    outputs = train_outputs(study, name)
    before = digests(outputs)
    result = run_stage(study, ["stages.train", name, "rnn", "0"], limit_bytes=2048)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: could not write {Path('models') / name / 'rnn-seed0.pt'}: File too large; "
        "none of the stage's outputs changed: fix that and rerun"]
    assert digests(outputs) == before  # the history CSV was written first, and is unchanged too
    assert not [p for p in outputs[0].parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_no_space_left_is_said_as_such_and_the_target_is_kept(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old")
    with pytest.raises(UserError, match=f"^could not write {target}: No space left on device; .*free some space"):
        with atomic_path(target) as staged:
            staged.write_text("new, half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(staged))
    assert target.read_text() == "old"


def test_several_outputs_change_together_or_not_at_all(tmp_path):
    first, second = tmp_path / "history.csv", tmp_path / "model.pt"
    first.write_text("old history")
    with pytest.raises(UserError):
        with atomic_paths(first, second) as (history, weights):
            history.write_text("new history")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(weights))
    assert first.read_text() == "old history" and not second.exists()
    with atomic_paths(first, second) as (history, weights):
        history.write_text("new history")
        write_torch(weights, {"w": torch.ones(2)})
    assert first.read_text() == "new history" and load_torch(second, "x")["w"].tolist() == [1.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "model.pt"]


@pytest.mark.parametrize("name, field, value", [("pos", "tags", "ZZZ"), ("sentiment", "label", "meh")])
def test_a_label_or_tag_seen_only_outside_train_is_named_by_file_and_line(tmp_path, params, name, field, value):
    section = local_section(params, name, tmp_path / "mine")
    train = tmp_path / "mine" / "train.jsonl"
    row = json.loads(train.read_text().splitlines()[0])
    row[field] = [value] * len(row[field]) if isinstance(row[field], list) else value
    other = tmp_path / "mine" / "validation.jsonl"
    kept = other.read_text().splitlines() if other.exists() else []
    other.write_text("\n".join([*kept, json.dumps(row)]) + "\n")
    with pytest.raises(UserError, match=f'^1 bad row: {other}:{len(kept) + 1}: "{field}" has "{value}", not one of'):
        load_recipe(name).download(section, tmp_path / "raw", 0)
