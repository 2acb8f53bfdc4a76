"""Sentiment recipe: label rule, hub rows, prepare, model and task on tiny data."""

import gzip
import json
from pathlib import Path

import pytest
import torch
from datasets import ClassLabel, Dataset, Features, Value

from recipes import sentiment
from recipes.kit.engine import evaluate, fit, seed_everything
from tests.conftest import sentiment_rows, write_jsonl


def test_rating_rule_keeps_sign_and_drops_near_neutral():
    csv = b"id,sentiment,text\n1,2.2,great\n2,-1.5,dull\n3,0.2,meh\n4,-0.4,hmm\n5,0.0,flat\n"
    rows, counts = sentiment.rows_from_ratings_csv(gzip.compress(csv), neutral_band=0.3)
    assert rows == [{"text": "great", "label": "pos"}, {"text": "dull", "label": "neg"},
                    {"text": "hmm", "label": "neg"}]
    assert counts == {"snippets": 5, "kept": 3, "dropped_neutral": 2}


@pytest.mark.parametrize(
    "columns, names",
    [
        ({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])}, ["neg", "pos"]),  # imdb, rotten_tomatoes
        ({"idx": Value("int32"), "sentence": Value("string"),
          "label": ClassLabel(names=["negative", "positive"])}, ["negative", "positive"]),  # sst2
    ],
)
def test_hub_rows_use_feature_names(columns, names):
    text_col = "sentence" if "sentence" in columns else "text"
    data = {text_col: ["good", "bad", "hidden"], "label": [1, 0, -1]}
    if "idx" in columns:
        data["idx"] = [0, 1, 2]
    split = Dataset.from_dict(data, features=Features(columns))
    assert sentiment.rows_from_hub(split, "hub train") == [{"text": "good", "label": names[1]},
                                              {"text": "bad", "label": names[0]}]  # -1 (hidden) dropped


def prepared(tmp_path, params):
    raw, out = tmp_path / "raw", tmp_path / "prepared"
    raw.mkdir()
    write_jsonl(raw / "train.jsonl", sentiment_rows(80))
    (raw / "SOURCE.json").write_text(json.dumps({"labels": ["neg", "pos"], "dataset": "test"}))
    section = params["sentiment"]
    section["data"].update(min_freq=1, valid_fraction=0.2, test_fraction=0.2)
    sentiment.prepare(section, raw, out, seed=0)
    return section, out


def test_prepare_writes_seeded_disjoint_splits(tmp_path, params):
    section, out = prepared(tmp_path, params)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["sizes"] == {"train": 48, "valid": 16, "test": 16}
    assert 0.0 <= meta["baseline"]["accuracy"] <= 1.0
    data = torch.load(out / "data.pt")
    assert data["train"]["tokens"].shape[0] == 48 and data["train"]["tokens"].dtype == torch.long


def test_padding_changes_no_loss_or_prediction(tmp_path, params):
    section, out = prepared(tmp_path, params)
    task = sentiment.make_task(section, out, torch.device("cpu"))
    torch.manual_seed(0)
    model = sentiment.build_model(section, task.meta, "gru", 8).eval()
    split = task.splits["test"]
    before = task.evaluate(model, "test")
    short = split["lengths"] < split["tokens"].shape[1]
    assert short.any()
    for i in torch.nonzero(short).flatten().tolist():
        split["tokens"][i, split["lengths"][i]:] = 5  # a real word id where padding was
    assert task.evaluate(model, "test") == before


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_task_trains_and_is_deterministic(tmp_path, params, cell):
    section, out = prepared(tmp_path, params)
    section["train"].update(epochs=3, patience=3, lr=0.01)

    def one_run():
        generator = seed_everything(0)
        task = sentiment.make_task(section, out, torch.device("cpu"))
        model = sentiment.build_model(section, task.meta, cell, 16)
        result = fit(task, model, section["train"], generator, "accuracy", log=lambda _: None)
        return result, evaluate(task, model, "test")

    (first, test1), (second, test2) = one_run(), one_run()
    assert [h["train_loss"] for h in first.history] == [h["train_loss"] for h in second.history]
    assert test1 == test2
    assert first.history[-1]["train_loss"] < first.history[0]["train_loss"]
    assert set(test1) == {"accuracy", "macro_f1", "loss"}


def test_nan_loss_stops_with_a_clear_error(tmp_path, params):
    from recipes.kit.errors import UserError

    section, out = prepared(tmp_path, params)
    task = sentiment.make_task(section, out, torch.device("cpu"))
    model = sentiment.build_model(section, task.meta, "rnn", 8)
    with torch.no_grad():
        model.out.weight.fill_(float("nan"))
    with pytest.raises(UserError, match="training diverged.*lower train.lr"):
        fit(task, model, section["train"], seed_everything(0), "accuracy", log=lambda _: None)


# ---- this recipe's data for the shared tests (tests/test_pipeline.py, test_sizing.py, test_contract.py)

SIZING_META = {"vocab_size": 8000, "labels": ["neg", "pos"]}


def tiny(section: dict, fixtures: Path) -> None:
    """Shrink this recipe's params to seconds of work on a local fixture dataset written to `fixtures`."""
    fixtures.mkdir(parents=True)
    write_jsonl(fixtures / "train.jsonl", sentiment_rows(60))
    section["source"].update(dataset="local", local_path=str(fixtures))
    section["data"].update(min_freq=1)
    section["model"].update(embed_dim=8, hidden_size=8)
    section["train"].update(epochs=2, batch_size=16)


def predict_inputs(folder: Path) -> list[str]:
    """Raw inputs for the predict test."""
    return ["a gorgeous , moving film", "dull and lifeless"]
