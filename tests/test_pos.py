"""POS tagging: corpus parser, hub rows, masking, metrics on hand-computed cases, character features."""

import json
import random
from pathlib import Path

import pytest
import torch
from datasets import ClassLabel, Dataset, Features, List, Value

from recipes import pos
from recipes.kit.engine import fit, seed_everything
from recipes.kit.errors import UserError
from recipes.kit.metrics import accuracy, macro_f1
from tests.conftest import write_jsonl

CORPUS = "迈向/v  充满/v  希望/n  。/w  新/a  世纪/n\n\n1/2/m  杯/q\n"


def test_parser_skips_blank_lines_and_splits_on_the_last_slash():
    rows = pos.parse_corpus(CORPUS, split_sentences=False)
    assert rows == [{"tokens": ["迈向", "充满", "希望", "。", "新", "世纪"], "tags": ["v", "v", "n", "w", "a", "n"]},
                    {"tokens": ["1/2", "杯"], "tags": ["m", "q"]}]


def test_parser_can_cut_paragraphs_into_sentences():
    rows = pos.parse_corpus(CORPUS, split_sentences=True)
    assert [r["tokens"] for r in rows] == [["迈向", "充满", "希望", "。"], ["新", "世纪"], ["1/2", "杯"]]


@pytest.mark.parametrize("bad", ["词", "词/", "/n"])
def test_malformed_token_names_its_line(bad):
    with pytest.raises(UserError, match=f"corpus:3: malformed token '{bad}'"):
        pos.parse_corpus(f"好/a\n\n大/a  {bad}\n", split_sentences=False)


def test_ud_and_conll_rows_take_tag_names_from_features():
    upos = ClassLabel(names=["NOUN", "PUNCT", "ADJ"])
    ud = Dataset.from_dict({"idx": ["s1"], "text": ["Big dogs."], "tokens": [["Big", "dogs", "."]],
                            "lemmas": [["big", "dog", "."]], "upos": [[2, 0, 1]]},
                           features=Features({"idx": Value("string"), "text": Value("string"),
                                              "tokens": List(Value("string")), "lemmas": List(Value("string")),
                                              "upos": List(upos)}))
    assert pos.rows_from_hub(ud, "upos", "ud train") == [
        {"tokens": ["Big", "dogs", "."], "tags": ["ADJ", "NOUN", "PUNCT"]}]
    conll = Dataset.from_dict({"id": ["0"], "tokens": [["He", "ran"]], "pos_tags": [[1, 0]], "chunk_tags": [[0, 1]]},
                              features=Features({"id": Value("string"), "tokens": List(Value("string")),
                                                 "pos_tags": List(ClassLabel(names=["VBD", "PRP"])),
                                                 "chunk_tags": List(ClassLabel(names=["B-NP", "B-VP"]))}))
    assert pos.rows_from_hub(conll, "pos_tags", "conll train") == [{"tokens": ["He", "ran"], "tags": ["PRP", "VBD"]}]


def test_most_frequent_tag_baseline_by_hand():
    train = [{"tokens": ["a", "a", "b"], "tags": ["X", "X", "Y"]}, {"tokens": ["a"], "tags": ["Y"]}]
    test = [{"tokens": ["a", "b", "c"], "tags": ["X", "X", "X"]}]
    # a→X (2 of 3), b→Y, unseen c→X (most frequent overall): right, wrong, right
    assert pos.most_frequent_tag_baseline(train, test) == pytest.approx(2 / 3)


def test_metrics_by_hand():
    assert accuracy([1, 2, 3, 3], [1, 2, 2, 3]) == 0.75
    # class 2: tp 1, pred 1, gold 2 → 2/3; class 3: tp 1, pred 2, gold 1 → 2/3; class 1: 1
    assert macro_f1([1, 2, 3, 3], [1, 2, 2, 3], [1, 2, 3]) == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_macro_f1_equals_scikit_learns():
    from sklearn.metrics import f1_score

    rng = random.Random(0)
    for _ in range(50):
        labels = list(range(rng.randint(1, 6)))
        targets = [rng.choice(labels) for _ in range(rng.randint(1, 40))]
        predictions = [rng.choice([*labels, 99]) for _ in targets]  # 99: a label outside the set
        expected = f1_score(targets, predictions, labels=labels, average="macro", zero_division=0.0)
        assert macro_f1(predictions, targets, labels) == pytest.approx(expected, abs=1e-12)


@pytest.fixture
def task(tmp_path, params):
    raw, out = tmp_path / "raw", tmp_path / "prep"
    raw.mkdir()
    rows = [{"tokens": ["the", "dog", "runs"][: 1 + i % 3], "tags": ["D", "N", "V"][: 1 + i % 3]} for i in range(40)]
    write_jsonl(raw / "train.jsonl", rows)
    (raw / "SOURCE.json").write_text(json.dumps({"tags": ["D", "N", "V"], "dataset": "t"}))
    section = params["pos"]
    section["data"].update(valid_fraction=0.25, test_fraction=0.25, min_freq=1, max_sentences=0)
    pos.prepare(section, raw, out, seed=0)
    return section, pos.make_task(section, out, torch.device("cpu"))


def test_padding_changes_no_loss_or_metric(task):
    section, task = task
    torch.manual_seed(0)
    model = pos.build_model(section, task.meta, "lstm", 8).eval()
    before = task.evaluate(model, "test")
    split = task.splits["test"]
    for i in range(len(split["lengths"])):
        split["tokens"][i, split["lengths"][i]:] = 3
        split["tags"][i, split["lengths"][i]:] = 2
    with torch.no_grad():
        assert task.evaluate(model, "test") == before
    assert set(before) == {"accuracy", "oov_accuracy", "macro_f1", "sentence_accuracy", "loss"}


def test_spellings_are_shared_per_word_and_cut_to_max_chars():
    spellings, rows = pos.spell([["ab", "abc"], ["ab"]], ["<pad>", "<unk>", "a", "b"], max_chars=2)
    assert rows.tolist() == [[1, 2], [1, 0]]  # padding points at row 0, the empty spelling
    assert spellings.tolist() == [[0, 0], [2, 3], [2, 3]]  # "abc" cut to "ab"; "c" unknown would be <unk>


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_a_words_encoding_is_the_same_whatever_words_share_its_batch(cell):
    torch.manual_seed(0)
    chars = pos.CharEncoder(cell, n_chars=9, embed_dim=4, hidden_size=3).eval()
    spellings = torch.tensor([[2, 3, 4, 5, 6], [7, 0, 0, 0, 0], [8, 2, 0, 0, 0], [3, 4, 5, 0, 0], [0, 0, 0, 0, 0]])
    together = chars(spellings)  # four length groups (5, 1, 2, 3 characters) and the empty spelling
    for row in range(len(spellings)):
        n = max(int((spellings[row] != 0).sum()), 1)
        assert torch.allclose(together[row], chars(spellings[row : row + 1, :n])[0], atol=1e-6)


NOUNS = ["nation", "station", "motion", "option", "lotion", "potion", "ration", "notion", "caution", "fiction"]
VERBS = ["realize", "organize", "finalize", "legalize", "idolize", "totalize", "localize", "vocalize", "penalize",
         "moralize"]


def trained_tagger(params, tmp_path, char_hidden: int):
    """A tagger of one-word sentences whose tag only the suffix tells (-ion N, -ize V), trained on them."""
    raw, out = tmp_path / "raw", tmp_path / f"prep{char_hidden}"
    raw.mkdir(exist_ok=True)
    words = [(w, "N") for w in NOUNS] + [(w, "V") for w in VERBS]
    rows = [{"tokens": [w], "tags": [t]} for w, t in words * 2 + words[::2]]  # half the words seen once: <unk>
    write_jsonl(raw / "train.jsonl", rows)
    (raw / "SOURCE.json").write_text(json.dumps({"tags": ["N", "V"], "dataset": "t"}))
    section = params["pos"]
    section["data"].update(valid_fraction=0.1, test_fraction=0.1, min_freq=2, max_sentences=0)
    section["model"].update(embed_dim=8, hidden_size=8, char_embed_dim=8, char_hidden=char_hidden, dropout=0.0)
    section["train"].update(epochs=30, batch_size=8, lr=0.02, patience=30)
    pos.prepare(section, raw, out, seed=0)
    task = pos.make_task(section, out, torch.device("cpu"))
    model = pos.build_model(section, task.meta, "gru", 8)
    fit(task, model, section["train"], seed_everything(0), "accuracy", log=lambda line: None)
    return task, model.eval()


def test_an_unseen_word_is_tagged_by_its_suffix(params, tmp_path):
    unseen = ["fusion", "mention", "energize", "memorize"]
    char_task, char_model = trained_tagger(params, tmp_path, char_hidden=8)
    word_task, word_model = trained_tagger(params, tmp_path, char_hidden=0)
    with torch.no_grad():
        assert pos.predict(char_task, char_model, unseen) == ["fusion/N", "mention/N", "energize/V", "memorize/V"]
        word_only = pos.predict(word_task, word_model, unseen)
    assert len({line.split("/")[1] for line in word_only}) == 1  # every unseen word is <unk>: one tag for all


# ---- this recipe's data for the shared tests (tests/test_pipeline.py, test_sizing.py, test_contract.py)

SIZING_META = {"vocab_size": 10000, "char_vocab_size": 3000, "tags": list("abcdefghij")}


def tagged_rows(n: int) -> list[dict]:
    """Tiny tagged sentences in the pos raw format."""
    words = [("the", "D"), ("dog", "N"), ("runs", "V"), ("a", "D"), ("cat", "N"), ("sleeps", "V")]
    return [{"tokens": [w for w, _ in words[i % 2 * 3 : i % 2 * 3 + 2 + i % 2]],
             "tags": [t for _, t in words[i % 2 * 3 : i % 2 * 3 + 2 + i % 2]]} for i in range(n)]


def tiny(section: dict, fixtures: Path) -> None:
    """Shrink this recipe's params to seconds of work on a local fixture corpus written to `fixtures`."""
    fixtures.mkdir(parents=True)
    write_jsonl(fixtures / "train.jsonl", tagged_rows(40))
    section["source"].update(dataset="local", local_path=str(fixtures))
    section["data"].update(min_freq=1, valid_fraction=0.2, test_fraction=0.2)
    section["model"].update(embed_dim=8, hidden_size=8)
    section["train"].update(epochs=2, batch_size=8)


def predict_inputs(folder: Path) -> list[str]:
    """Raw inputs for the predict test."""
    return ["the dog runs", "a cat"]
