"""Character language model: the snippet stream, the bigram baseline by hand, windows, and the task."""

import gzip
import math
from pathlib import Path

import torch

from recipes import charlm
from recipes.kit.engine import evaluate, fit, seed_everything
from tests.conftest import write_jsonl


def test_snippets_become_text_rows_and_one_stream():
    raw = gzip.compress(b'id,sentiment,text\n1,2.5,"Great, fun"\n2,-1.0,dull\n3,0.0,  \n')
    rows = charlm.rows_from_snippets_csv(raw)
    assert rows == [{"text": "Great, fun"}, {"text": "dull"}]
    assert "".join(charlm.stream(rows)) == "Great, fun\ndull\n"


def test_bigram_baseline_by_hand():
    # train "abab": pairs ab ×2, ba ×1; vocabulary of 4. Test "ab": P(b|a) = (2+1)/(2+4) = 0.5 → 1 bit.
    result = charlm.bigram_baseline([1, 2, 1, 2], [1, 2], vocab_size=4)
    assert math.isclose(result["bits_per_char"], 1.0) and result["accuracy"] == 1.0


def test_windows_overlap_by_one_character():
    w = charlm.windows(torch.arange(11), seq_len=5)
    assert w.tolist() == [[0, 1, 2, 3, 4, 5], [5, 6, 7, 8, 9, 10]]


def test_hidden_state_learns_what_a_bigram_cannot(tmp_path, params):
    """"hello" repeated: after "l" comes "l" once and "o" once; a bigram guesses one of them."""
    folder = tmp_path / "raw"
    tiny(params["charlm"], tmp_path / "fixtures", rows=[{"text": "hello"}] * 200)
    charlm.download(params["charlm"], folder.mkdir() or folder, 0)
    charlm.prepare(params["charlm"], folder, tmp_path / "prepared", 0)
    task = charlm.make_task(params["charlm"], tmp_path / "prepared", torch.device("cpu"))
    bigram = task.meta["baseline"]["accuracy"]
    seed_everything(0)
    model = charlm.build_model(params["charlm"], task.meta, "lstm", 32)
    params["charlm"]["train"].update(epochs=15, lr=0.02, patience=15)
    fit(task, model, params["charlm"]["train"], seed_everything(0), "bits_per_char", "lower", log=lambda _: None)
    assert evaluate(task, model, "test")["accuracy"] > bigram + 0.1
    assert charlm.predict(task, model, ["hell"])[0].startswith("o")


# ---- this recipe's data for the shared tests (tests/test_pipeline.py, test_sizing.py, test_contract.py)

SIZING_META = {"vocab_size": 60}


def tiny(section: dict, fixtures: Path, rows: list[dict] | None = None) -> None:
    """Shrink this recipe's params to seconds of work on local text rows written to `fixtures`."""
    fixtures.mkdir(parents=True)
    write_jsonl(fixtures / "train.jsonl", rows or [{"text": f"the film number {i} was fun"} for i in range(80)])
    section["source"].update(dataset="local", local_path=str(fixtures))
    section["data"].update(min_freq=1, valid_fraction=0.1, test_fraction=0.1)
    section["model"].update(embed_dim=8, hidden_size=8, seq_len=8)
    section["train"].update(epochs=2, batch_size=16)
    section["evaluate"].update(samples=10)


def predict_inputs(folder: Path) -> list[str]:
    """Primes for the predict test."""
    return ["the fi", "hello"]
