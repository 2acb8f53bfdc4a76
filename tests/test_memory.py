"""Memory recipe: the generators, the param checks, and a cell that learns the adding problem."""

import json
import re
from pathlib import Path

import pytest
import torch

from recipes import memory
from recipes.kit.engine import evaluate, fit, seed_everything
from recipes.kit.errors import UserError
from recipes.kit.params import load_params
from recipes.memory import data


def test_adding_has_one_marker_in_each_half_and_the_target_is_their_sum():
    batch = data.adding(200, 30, seed=5)
    values, markers = batch["inputs"][..., 0], batch["inputs"][..., 1]  # [n, T]
    assert batch["inputs"].shape == (200, 30, 2)
    assert (markers.sum(1) == 2).all()
    assert (markers[:, :15].sum(1) == 1).all() and (markers[:, 15:].sum(1) == 1).all()
    assert torch.allclose(batch["targets"], (values * markers).sum(1))
    assert ((values >= 0) & (values < 1)).all()


def test_selective_copy_tokens_reappear_in_order_after_the_noise():
    batch = data.selective_copy(100, 20, copies=4, vocab=6, seed=1)
    inputs, targets = batch["inputs"], batch["targets"]
    assert inputs.shape == (100, 24) and targets.shape == (100, 4)
    assert (inputs[:, 20:] == data.QUERY).all()
    for row, target in zip(inputs[:, :20], targets):
        assert row[row != data.NOISE].tolist() == target.tolist()  # the K data tokens, in their order
    assert set(targets.unique().tolist()) == set(range(2, 8))


def test_the_same_seed_gives_the_same_data_and_every_split_its_own_seed():
    assert torch.equal(data.adding(10, 8, 3)["inputs"], data.adding(10, 8, 3)["inputs"])
    assert not torch.equal(data.adding(10, 8, 3)["inputs"], data.adding(10, 8, 4)["inputs"])
    seeds = {data.split_seed(seed, offset) for seed in range(50) for offset in range(8)}
    assert len(seeds) == 50 * 8  # no two (seed, split) pairs share a generator seed


def test_the_baselines_are_the_constant_and_chance():
    targets = data.adding(20_000, 10, 0)["targets"]
    baseline = data.baseline({"task": "adding"}, targets)
    assert abs(baseline["mse"] - 1 / 6) < 0.01  # Var of a sum of two uniforms
    copy = data.baseline({"task": "selective_copy", "vocab_size": 8, "copy_tokens": 2}, targets)
    assert copy["accuracy"] == 1 / 8 and copy["sequence_accuracy"] == 1 / 64


def test_test_lengths_are_the_multiples_of_t():
    assert data.scored_lengths(100, [0.5, 1, 2, 4]) == [50, 100, 200, 400]
    assert data.scored_lengths(3, [0.1, 1]) == [2, 3]


@pytest.mark.parametrize("change,words", [
    ({"source": {"task": "selective_copy", "length": 8, "copy_tokens": 8}}, "copy_tokens (K = 8) must be below"),
    ({"source": {"length": 1}}, "memory.source.length must be an integer >= 2"),
    ({"data": {"eval_multiples": [1, 0]}}, "eval_multiples must be a non-empty list of positive numbers"),
    ({"data": {"eval_multiples": []}}, "eval_multiples must be a non-empty list of positive numbers"),
    ({"data": {"eval_multiples": [1, "x"]}}, "eval_multiples must be a non-empty list of positive numbers"),
])
def test_bad_memory_params_are_one_clear_error(tmp_path, params, change, words):
    import yaml

    for part, values in change.items():
        params["memory"][part].update(values)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match=re.escape(words)):
        load_params(path, "memory")


def test_an_lstm_learns_the_adding_problem_where_the_constant_cannot(tmp_path, params):
    section = params["memory"]
    tiny(section, tmp_path / "fixtures")
    section["source"]["length"] = 10
    section["data"].update(train_examples=2000, eval_multiples=[0.5, 1, 2, 4])
    section["train"].update(epochs=6, lr=0.01, batch_size=50, patience=6)
    memory.download(section, tmp_path / "raw", 0)
    memory.prepare(section, tmp_path / "raw", tmp_path / "prepared", 0)
    task = memory.make_task(section, tmp_path / "prepared", torch.device("cpu"))
    seed_everything(0)
    model = memory.build_model(section, task.meta, "lstm", 32)
    fit(task, model, section["train"], seed_everything(0), "accuracy", "higher", log=lambda _: None)
    test = evaluate(task, model, "test")
    assert test["mse"] < 0.2 * task.meta["baseline"]["mse"]
    assert set(test) >= {"accuracy@5", "accuracy@10", "accuracy@20", "accuracy@40"}
    assert test["accuracy@10"] == test["accuracy"]
    assert memory.predict(task, model, ["0.1 *0.5 0.2 0.3 0.1 *0.4 0 0 0.9 0"])[0].startswith("0.")


def test_selective_copy_runs_through_prepare_training_scoring_and_predict(tmp_path, params):
    section = params["memory"]
    tiny(section, tmp_path / "fixtures")
    section["source"].update(task="selective_copy", length=10, copy_tokens=2, vocab_size=3)
    section["data"].update(train_examples=300, eval_multiples=[1, 2])
    memory.download(section, tmp_path / "raw", 0)
    memory.prepare(section, tmp_path / "raw", tmp_path / "prepared", 0)
    task = memory.make_task(section, tmp_path / "prepared", torch.device("cpu"))
    assert task.meta["baseline"] == {"name": "chance (a uniform guess per token)", "accuracy": 1 / 3,
                                     "sequence_accuracy": 1 / 9}
    seed_everything(0)
    model = memory.build_model(section, task.meta, "gru", 16)
    fit(task, model, section["train"], seed_everything(0), "accuracy", "higher", log=lambda _: None)
    test = evaluate(task, model, "test")
    assert set(test) == {"accuracy", "sequence_accuracy", "loss", "accuracy@10", "accuracy@20"}
    assert 0 <= test["sequence_accuracy"] <= test["accuracy"] <= 1
    assert len(memory.predict(task, model, [". 1 . . 2 . ."])[0].split()) == 2
    with pytest.raises(UserError, match="give exactly 2 data tokens"):
        memory.predict(task, model, [". 1 . ."])
    assert task.samples(model, tmp_path).count(" at step ") == 2 * section["evaluate"]["samples"]  # K per row


# ---- this recipe's data for the shared tests (tests/test_pipeline.py, test_sizing.py, test_contract.py)

SIZING_META = {"task": "adding", "vocab_size": 0, "copy_tokens": None}


def tiny(section: dict, fixtures: Path) -> None:
    """Shrink this recipe's params to seconds of work (nothing to write: the data is generated)."""
    section["source"].update(length=8)
    section["data"].update(train_examples=200, valid_examples=50, test_examples=50, eval_multiples=[0.5, 1, 2])
    section["model"].update(hidden_size=8)
    section["train"].update(epochs=2, batch_size=25)
    section["evaluate"].update(samples=5)


def predict_inputs(folder: Path) -> list[str]:
    """Sequences for the predict test: two starred values among others."""
    return ["0.1 *0.5 0.2 *0.3", "*0.9 0 0 0 *0.05 0"]


def test_the_study_scores_every_length_and_measures_gradients_through_time(study):
    """The tiny study (T = 8, scored at 4, 8, 16): metrics at each length, gradients for the gradient-loss
    recipes (memory, sentiment) on seed 0, their plots and the report's verdicts."""
    run = json.loads((study / "metrics/runs/memory/lstm-seed0.json").read_text())
    assert {"accuracy@4", "accuracy@8", "accuracy@16", "mse"} <= set(run["test"])
    for recipe in ("memory", "sentiment"):
        measured = json.loads((study / f"metrics/runs/{recipe}/rnn-seed0.json").read_text())["gradients"]
        for state in ("initial", "trained"):
            norms = measured[state]["by_steps_before_end"]
            assert measured[state]["rows"] > 1 and len(norms) >= 2 and all(n >= 0 for n in norms)
        assert (study / f"reports/plots/{recipe}_gradients.png").stat().st_size > 1000
    assert "gradients" not in json.loads((study / "metrics/runs/pos/rnn-seed0.json").read_text())
    assert (study / "reports/plots/memory_length.png").stat().st_size > 1000
    report = (study / "reports/comparison.md").read_text()
    assert "lstm vs rnn, trained: first-step gradient **" in report and "**Length generalisation**" in report
    tracked = json.loads((study / "metrics/summary.json").read_text())
    assert set(tracked["memory"]) == {"rnn", "lstm"} and "accuracy@16" in tracked["memory"]["lstm"]
    full = json.loads((study / "reports/summary.json").read_text())
    assert set(full["memory"]["gradients"]["verdicts"]) == {"lstm vs rnn (trained)", "lstm vs rnn (initial)"}
