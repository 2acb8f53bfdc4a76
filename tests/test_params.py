"""params.yaml validation: one line naming the key and what is allowed."""

import pytest
import yaml

from recipes.errors import UserError
from recipes.params import load_params


def write(tmp_path, params):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_committed_params_are_valid():
    params = load_params("params.yaml")
    assert params["cells"] == ["rnn", "gru", "lstm"]


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda p: p["sentiment"]["train"].update(lr="fast"), "sentiment.train.lr must be a number"),
        (lambda p: p["sentiment"]["model"].update(hidden=3), "unknown key sentiment.model.hidden"),
        (lambda p: p["sentiment"]["source"].update(dataset="yelp"), "sentiment.source.dataset must be one of"),
        (lambda p: p.update(cells=["rnn", "transformer"]), "cells must be a list with items from rnn, gru, lstm"),
        (lambda p: p.update(device="tpu"), "device must be one of auto, cpu, cuda"),
        (lambda p: p["sentiment"]["train"].update(epochs=0), "sentiment.train.epochs must be an integer >= 1"),
        (lambda p: p["sentiment"]["model"].update(bidirectional="yes"), "bidirectional must be true/false"),
        (lambda p: p["sentiment"]["model"].pop("dropout"), "missing key sentiment.model.dropout"),
        (lambda p: p.update(seeds=[]), "seeds must be a non-empty list"),
        (lambda p: p.update(recipes=["sentiment", "speech"]), "recipes must list some of"),
    ],
)
def test_bad_params_name_the_key(tmp_path, params, change, expected):
    change(params)
    with pytest.raises(UserError) as err:
        load_params(write(tmp_path, params))
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_integer_is_accepted_where_a_number_is_expected(tmp_path, params):
    params["sentiment"]["train"]["lr"] = 1
    assert load_params(write(tmp_path, params))["sentiment"]["train"]["lr"] == 1


def test_bad_stage_params_exit_with_one_line_and_no_output(tmp_path, params):
    import subprocess
    import sys

    params["sentiment"]["train"]["lr"] = "fast"
    bad = write(tmp_path, params)
    result = subprocess.run([sys.executable, "-m", "stages.download", "sentiment", "--params", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: params.yaml: sentiment.train.lr must be a number >= 0.0, got 'fast'"]
