"""Raw rows: every bad row named with its file and line, none repaired (recipes/kit/rows.py)."""

import json

import pytest
from datasets import ClassLabel, Dataset, Features, List, Value

from recipes import pos, sentiment, translation
from recipes.kit import rows
from recipes.kit.errors import UserError
from recipes.kit.splits import carve

TAGGED = pos.ROW
LABELLED = sentiment.ROW


def write_lines(path, lines: list) -> None:
    """Each item as one line: dicts and lists as JSON, bytes as they are, str as text."""
    data = b""
    for line in lines:
        if isinstance(line, bytes):
            data += line + b"\n"
        elif isinstance(line, str):
            data += line.encode() + b"\n"
        else:
            data += json.dumps(line).encode() + b"\n"
    path.write_bytes(data)


GOOD = {"tokens": ["a", "b"], "tags": ["X", "Y"]}


@pytest.mark.parametrize("bad, message", [
    ({"tokens": ["a", "b", "c", "d"], "tags": ["X", "Y", "Z"]}, '"tags" has 3 items but "tokens" has 4'),
    ({"tokens": ["a", "b"], "tags": ["X", "Y", "Z"]}, '"tags" has 3 items but "tokens" has 2'),
    ({"tokens": ["a"]}, 'no "tags" field'),
    ({"tokens": [], "tags": []}, '"tokens" must be a non-empty list of non-empty strings, got []'),
    ({"tokens": ["a", None], "tags": ["X", "Y"]}, '"tokens" must be a non-empty list'),
    (["a", "b"], "a row must be a JSON object"),
])
def test_a_bad_tagged_row_is_named_by_file_and_line(tmp_path, bad, message):
    path = tmp_path / "train.jsonl"
    write_lines(path, [GOOD] * 10 + [bad])
    with pytest.raises(UserError) as err:
        rows.read_rows(path, TAGGED)
    assert str(err.value).startswith(f"1 bad row: {path}:11: {message}")


@pytest.mark.parametrize("bad, message", [
    ({"text": "fine"}, 'no "label" field'),
    ({"text": "fine", "label": None}, '"label" must be a non-empty string, got null'),
    ({"text": None, "label": "pos"}, '"text" must be a non-empty string, got null'),
    ({"text": "   ", "label": "pos"}, '"text" must be a non-empty string, got "   "'),
    ({"text": "fine", "label": 1}, '"label" must be a non-empty string, got 1'),
    (b"\xff\xfe not text", "not UTF-8 (byte 0xff at column 1)"),
    ('{"text": "fine", "label": oops}', "not valid JSON (Expecting value at column 27)"),
])
def test_a_bad_labelled_row_is_named_by_file_and_line(tmp_path, bad, message):
    path = tmp_path / "train.jsonl"
    write_lines(path, [{"text": "good", "label": "pos"}, bad])
    with pytest.raises(UserError, match="1 bad row: ") as err:
        rows.read_rows(path, LABELLED)
    assert f"{path}:2: {message}" in str(err.value)


def test_several_bad_rows_show_the_first_three_and_the_count(tmp_path):
    path = tmp_path / "train.jsonl"
    write_lines(path, [{"text": "ok", "label": "pos"}] + [{"text": "no label"}] * 5)
    message = str(pytest.raises(UserError, rows.read_rows, path, LABELLED).value)
    assert message.startswith("5 bad rows: ") and message.endswith("(and 2 more)")
    assert [f"{path}:{n}:" in message for n in (2, 3, 4, 5)] == [True, True, True, False]


def test_labels_outside_the_set_are_refused(tmp_path):
    path = tmp_path / "test.jsonl"
    write_lines(path, [{"text": "ok", "label": "pos"}, {"text": "meh", "label": "neutral"}])
    with pytest.raises(UserError, match=f'{path}:2: "label" has "neutral", not one of \\["neg", "pos"\\]'):
        rows.read_rows(path, LABELLED.with_allowed(label=["neg", "pos"]))
    with pytest.raises(UserError, match=':1: "tags" has "Q", not one of'):
        rows.check_rows([(f"{path}:1", {"tokens": ["a"], "tags": ["Q"]})], TAGGED.with_allowed(tags=["X"]), "t")


def test_empty_file_and_missing_file_have_their_own_messages(tmp_path):
    empty = tmp_path / "train.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(UserError, match=f"^{empty} has no rows: it needs at least one$"):
        rows.read_rows(empty, LABELLED)
    with pytest.raises(UserError, match="validation.jsonl is missing: run `dvc repro download@translation`"):
        rows.read_rows(tmp_path / "validation.jsonl", translation.ROW, fix="run `dvc repro download@translation`")


def test_an_empty_train_file_is_not_called_a_missing_test_split(tmp_path):
    (tmp_path / "train.jsonl").write_text("")
    with pytest.raises(UserError, match="train.jsonl has no rows"):
        carve(tmp_path, LABELLED, 0.1, 0.1, seed=0)


def test_a_split_too_small_to_carve_says_which_fraction(tmp_path):
    write_lines(tmp_path / "train.jsonl", [{"text": "ok", "label": "pos"}] * 3)
    with pytest.raises(UserError, match="no test.jsonl, and test_fraction 0.1 of 3 training rows is no row"):
        carve(tmp_path, LABELLED, 0.1, 0.1, seed=0)


def test_hub_rows_with_a_null_text_are_named_by_split_and_row():
    split = Dataset.from_dict({"text": ["good", None], "label": [1, 0]},
                              features=Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])}))
    with pytest.raises(UserError, match='stanfordnlp/imdb train row 2: "text" must be a non-empty string, got null'):
        sentiment.rows_from_hub(split, "stanfordnlp/imdb train")


def test_hub_pos_rows_with_unequal_lengths_are_refused():
    upos = ClassLabel(names=["NOUN", "VERB"])
    split = Dataset.from_dict({"tokens": [["dogs", "run"]], "upos": [[0]]},
                              features=Features({"tokens": List(Value("string")), "upos": List(upos)}))
    with pytest.raises(UserError, match='ud train row 1: "tags" has 1 items but "tokens" has 2'):
        pos.rows_from_hub(split, "upos", "ud train")


def test_package_csv_without_a_rating_names_its_line():
    import gzip

    csv = b"id,sentiment,text\n1,2.2,great\n2,,dull\n"
    with pytest.raises(UserError, match=f"{sentiment.EMBEDDED.member}:3: no numeric \"sentiment\" column"):
        sentiment.rows_from_ratings_csv(gzip.compress(csv), neutral_band=0.3)
