"""Every recipe in params.yaml keeps the contract of recipes/kit/contract.py, checked on the tiny study's data."""

import subprocess
import sys

import pytest
import torch
import yaml

from recipes.kit.contract import EVALUATE_KEYS, HIGHER, LOWER, Recipe, Task, load_recipe, metric_base
from recipes.kit.engine import TRAIN_SCHEMA
from recipes.kit.params import load_params
from stages.common.runs import load_trained, start_run
from tests.conftest import ROOT, recipe_tests, run_in_process

RECIPES = yaml.safe_load((ROOT / "params.yaml").read_text())["recipes"]


@pytest.mark.parametrize("name", RECIPES)
def test_module_provides_the_recipe_protocol(name):
    recipe = load_recipe(name)
    assert isinstance(recipe, Recipe)
    assert set(recipe.SCHEMA) == {"source", "data", "model", "train", "evaluate"}
    assert set(TRAIN_SCHEMA) <= set(recipe.SCHEMA["train"])  # the engine reads these
    assert {"embed_dim", "hidden_size", "dropout"} <= set(recipe.SCHEMA["model"])  # sizing reads hidden_size
    assert set(recipe.DIRECTIONS.values()) <= {HIGHER, LOWER} and recipe.DIRECTIONS["loss"] == LOWER
    assert {recipe.METRIC, recipe.HEADLINE} <= set(recipe.DIRECTIONS)
    assert recipe.TOPOLOGY and isinstance(recipe.TOPOLOGY, str)


@pytest.mark.parametrize("name", RECIPES)
def test_task_evaluates_samples_and_predicts(study, monkeypatch, tmp_path, name):
    monkeypatch.chdir(study)
    recipe, params = load_recipe(name), load_params("params.yaml", name)
    run = start_run(params, name, 0)
    assert isinstance(run.task, Task)
    model, facts = load_trained(run, name, "lstm", 0)
    with torch.no_grad():
        valid, test = run.task.evaluate(model, "valid"), run.task.evaluate(model, "test")
        assert {recipe.METRIC, *EVALUATE_KEYS} <= set(valid) <= set(recipe.DIRECTIONS)
        # `name@L` is `name` at input length L (the memory recipe's length generalisation)
        assert {recipe.HEADLINE, *EVALUATE_KEYS} <= set(test) and {metric_base(k) for k in test} <= set(
            recipe.DIRECTIONS)
        assert isinstance(run.task.samples(model, tmp_path), str)
        inputs = recipe_tests(name).predict_inputs(tmp_path)
        outputs = recipe.predict(run.task, model, inputs)
    # one line per input (a tiny decoder may stop at once: an empty line is still its answer)
    assert len(outputs) == len(inputs) and all(isinstance(o, str) and "\n" not in o for o in outputs)
    assert facts["parameters"] > 0


def predict(study, *args, stdin=""):
    return subprocess.run([sys.executable, "-m", "stages.predict", *args], cwd=study, input=stdin,
                          capture_output=True, text=True, env={"PYTHONPATH": str(study), "PATH": ""})


@pytest.mark.parametrize("name", RECIPES)
def test_predict_cli_prints_a_line_per_input(study, tmp_path, monkeypatch, capsys, name):
    """The real command once per recipe; the same inputs on stdin, in-process, print the same lines."""
    inputs = recipe_tests(name).predict_inputs(tmp_path)
    result = predict(study, name, "lstm", *inputs)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(inputs) and all("\t→ " in line for line in lines)
    code, out, _ = run_in_process("predict", [name, "lstm"], study, monkeypatch, capsys, "\n".join(inputs) + "\n")
    assert code == 0 and out == result.stdout


@pytest.mark.parametrize("args, stdin, expected", [
    (["lstm", "--seed", "7", "x"], "", "is missing: run `dvc repro train@{name}-lstm-7`"),
    (["lstm"], "\n", "no input: give one or more INPUT arguments"),
    (["cnn", "x"], "", "unknown cell 'cnn'"),
])
def test_predict_fails_with_one_line(study, monkeypatch, capsys, args, stdin, expected):
    name = RECIPES[0]
    code, _, err = run_in_process("predict", [name, *args], study, monkeypatch, capsys, stdin)
    assert code == 2
    assert err.strip().splitlines() == [err.strip()] and "Traceback" not in err
    assert expected.format(name=name) in err
