"""End to end: `dvc repro` on a temporary copy of the repository with tiny params
(each recipe's own `tiny` settings and fixtures), then what a user does next."""

import json

import yaml

from recipes.kit.contract import metric_base
from tests.conftest import dvc


def test_repro_writes_run_metrics_and_summary(study):
    params = yaml.safe_load((study / "params.yaml").read_text())
    summary = json.loads((study / "reports/summary.json").read_text())
    tracked = json.loads((study / "metrics/summary.json").read_text())
    for recipe in params["recipes"]:
        facts = json.loads((study / f"data/prepared/{recipe}/recipe.json").read_text())
        for cell in params["cells"]:
            run = json.loads((study / f"metrics/runs/{recipe}/{cell}-seed0.json").read_text())
            assert run["cell"] == cell and run["parameters"] > 0 and run["epochs_run"] >= 1
            assert set(facts["directions"]) >= {metric_base(key) for key in run["test"]}
            assert summary[recipe]["cells"][cell]["parameters"]["n"] == 1
            assert tracked[recipe][cell]["parameters"] == run["parameters"]
            history = (study / f"reports/history/{recipe}/{cell}-seed0.csv").read_text().splitlines()
            assert history[0].startswith("epoch,train_loss,valid_loss,valid_metric")
            assert (study / f"reports/samples/{recipe}/{cell}-seed0/samples.md").exists()
    report = (study / "reports/comparison.md").read_text()
    assert all(f"## {recipe}" in report for recipe in params["recipes"])
    assert (study / f"reports/plots/{params['recipes'][0]}_curves.png").stat().st_size > 1000


def test_raw_source_is_recorded(study):
    params = yaml.safe_load((study / "params.yaml").read_text())
    for recipe in params["recipes"]:
        source = json.loads((study / f"data/raw/{recipe}/SOURCE.json").read_text())
        assert source["source"] in {"local", "generated", "package", "hub"}
        if source["source"] == "local":
            assert len(source["sha256"]["train.jsonl"]) == 64


def test_second_repro_changes_nothing(study):
    result = dvc(study, "status")
    assert "up to date" in result.stdout, result.stdout


def test_editing_one_recipe_file_reruns_only_that_recipe(study):
    params = yaml.safe_load((study / "params.yaml").read_text())
    name = params["recipes"][-1]
    path = study / f"recipes/{name}/__init__.py"
    original = path.read_text()
    try:
        path.write_text(original + "\n# an edit\n")
        result = dvc(study, "status", "--json")
        changed = set(json.loads(result.stdout))
    finally:
        path.write_text(original)
    assert changed and all(f"@{name}" in stage for stage in changed), changed
    runs = {f"{stage}@{name}-{cell}-0" for stage in ("train", "evaluate") for cell in params["cells"]}
    tunes = {f"tune@{name}-{cell}" for cell in params["cells"]}
    assert changed == {f"download@{name}", f"prepare@{name}", f"timing@{name}"} | runs | tunes


def test_changing_one_recipe_param_reruns_only_that_recipe(study):
    params = yaml.safe_load((study / "params.yaml").read_text())
    name = next(r for r in params["recipes"] if "samples" in params[r]["evaluate"])
    params[name]["evaluate"]["samples"] += 1
    (study / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = dvc(study, "repro")
    assert result.returncode == 0, result.stderr[-2000:]
    ran = {line.split("'")[1] for line in result.stdout.splitlines() if line.startswith("Running stage")}
    evaluations = {f"evaluate@{name}-{cell}-0" for cell in params["cells"]}
    assert evaluations <= ran <= evaluations | {"compare"}, ran


def test_dvc_plots_show_one_chart_per_recipe_with_a_line_per_cell(study):
    params = yaml.safe_load((study / "params.yaml").read_text())
    result = dvc(study, "plots", "show", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)["data"]
    metrics = {r: json.loads((study / f"metrics/runs/{r}/lstm-seed0.json").read_text())["selected_by"]
               for r in params["recipes"]}
    curves = {f"reports/curves/{r}_valid_{metrics[r]}.csv" for r in params["recipes"]}
    assert {k for k in data if k.startswith("reports/curves/")} == curves
    for curve in curves:
        values = data[curve][0]["content"]["data"]["values"]
        assert {v["field"] for v in values} == set(params["cells"])
    assert f"reports/plots/{params['recipes'][0]}_curves.png" in data
    assert not any(k.startswith("reports/history/") for k in data)  # 36 per-run charts would bury the comparison
