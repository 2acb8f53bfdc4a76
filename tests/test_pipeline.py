"""End to end: `dvc repro` on a temporary copy of the repository with tiny
params and local fixture data, then a second `dvc repro` that changes nothing."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, sentiment_rows, write_jsonl

CODE = ["dvc.yaml", "params.yaml", "stages", "recipes", ".dvcignore"]


def tiny_params(params: dict, fixtures: Path) -> dict:
    """The committed params shrunk to seconds of work, reading local fixtures."""
    params["seeds"] = [0]
    s = params["sentiment"]
    s["source"].update(dataset="local", local_path=str(fixtures / "sentiment"))
    s["data"].update(min_freq=1)
    s["model"].update(embed_dim=8, hidden_size=8)
    s["train"].update(epochs=2, batch_size=16)
    p = params["pos"]
    p["source"].update(dataset="local", local_path=str(fixtures / "pos"))
    p["data"].update(min_freq=1, valid_fraction=0.2, test_fraction=0.2)
    p["model"].update(embed_dim=8, hidden_size=8)
    p["train"].update(epochs=2, batch_size=8)
    t = params["translation"]  # generated: no network needed
    t["source"].update(train_size=120, valid_size=20, test_size=20, max_digits=3)
    t["model"].update(embed_dim=8, hidden_size=8, attention="additive", bidirectional=True)
    t["train"].update(epochs=2, teacher_forcing=0.5)
    t["evaluate"].update(beam_size=2)
    c = params["captioning"]  # generated from scikit-learn's bundled digits
    c["source"].update(strips={"train": 64, "validation": 16, "test": 16}, max_digits=2)
    c["model"].update(embed_dim=8, hidden_size=8, channels=4)
    c["train"].update(epochs=2)
    return params


def pos_rows(n: int) -> list[dict]:
    """Tiny tagged sentences in the pos raw format."""
    words = [("the", "D"), ("dog", "N"), ("runs", "V"), ("a", "D"), ("cat", "N"), ("sleeps", "V")]
    return [{"tokens": [w for w, _ in words[i % 2 * 3 : i % 2 * 3 + 2 + i % 2]],
             "tags": [t for _, t in words[i % 2 * 3 : i % 2 * 3 + 2 + i % 2]]} for i in range(n)]


def write_fixtures(folder: Path) -> None:
    (folder / "sentiment").mkdir(parents=True)
    write_jsonl(folder / "sentiment" / "train.jsonl", sentiment_rows(60))
    (folder / "pos").mkdir()
    write_jsonl(folder / "pos" / "train.jsonl", pos_rows(40))


def dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               RNN_RECIPES_CACHE=str(repo / ".cache"))
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("study")
    repo = root / "repo"
    repo.mkdir()
    for name in CODE:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, repo / name)
    write_fixtures(root / "fixtures")
    params = tiny_params(yaml.safe_load((ROOT / "params.yaml").read_text()), root / "fixtures")
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert dvc(repo, "init", "--no-scm", "-q").returncode == 0
    result = dvc(repo, "repro")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return repo


def test_repro_writes_run_metrics_and_summary(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    summary = json.loads((repo / "metrics/summary.json").read_text())
    for recipe in params["recipes"]:
        for cell in params["cells"]:
            run = json.loads((repo / f"metrics/runs/{recipe}/{cell}-seed0.json").read_text())
            assert run["cell"] == cell and run["parameters"] > 0 and run["epochs_run"] >= 1
            stats = summary[recipe][cell]
            assert stats["parameters"]["n"] == 1
            assert all(0.0 <= stats[k]["mean"] <= 1.0 for k in run["test"] if k != "loss" and k != "perplexity")
            history = (repo / f"reports/history/{recipe}/{cell}-seed0.csv").read_text().splitlines()
            assert history[0].startswith("epoch,train_loss,valid_loss,valid_metric")
            assert (repo / f"reports/samples/{recipe}/{cell}-seed0/samples.md").exists()
    report = (repo / "reports/comparison.md").read_text()
    assert all(f"## {recipe}" in report for recipe in params["recipes"])
    assert (repo / "reports/plots/sentiment_curves.png").stat().st_size > 1000


def test_raw_source_is_recorded(repo):
    source = json.loads((repo / "data/raw/sentiment/SOURCE.json").read_text())
    assert source["source"] == "local" and len(source["sha256"]["train.jsonl"]) == 64


def test_second_repro_changes_nothing(repo):
    result = dvc(repo, "status")
    assert "up to date" in result.stdout, result.stdout


def test_changing_one_recipe_param_reruns_only_that_recipe(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["translation"]["evaluate"]["beam_size"] = 3
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = dvc(repo, "repro")
    assert result.returncode == 0, result.stderr[-2000:]
    ran = {line.split("'")[1] for line in result.stdout.splitlines() if line.startswith("Running stage")}
    evaluations = {f"evaluate@translation-{cell}-0" for cell in params["cells"]}
    assert evaluations <= ran <= evaluations | {"compare"}, ran


def test_dvc_plots_show_one_chart_per_recipe_with_a_line_per_cell(repo):
    from recipes import RECIPES

    params = yaml.safe_load((repo / "params.yaml").read_text())
    result = dvc(repo, "plots", "show", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)["data"]
    curves = {f"reports/curves/{r}_valid_{RECIPES[r].METRIC}.csv" for r in params["recipes"]}
    assert {k for k in data if k.startswith("reports/curves/")} == curves
    for curve in curves:
        values = data[curve][0]["content"]["data"]["values"]
        assert {v["field"] for v in values} == set(params["cells"])
    assert "reports/plots/sentiment_curves.png" in data
    assert not any(k.startswith("reports/history/") for k in data)  # 36 per-run charts would bury the comparison
