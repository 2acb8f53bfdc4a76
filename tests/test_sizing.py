"""compare_by: params gives every cell a parameter count within 2 % of the reference cell's."""

import pytest

from recipes import RECIPES
from recipes.sizing import hidden_size_for, parameter_count

META = {
    "sentiment": {"vocab_size": 8000, "labels": ["neg", "pos"]},
    "pos": {"vocab_size": 10000, "tags": list("abcdefghij")},
    "translation": {"src_vocab_size": 35, "tgt_vocab_size": 31},
    "captioning": {"vocab_size": 14, "input_shape": [8, 32]},
}


@pytest.mark.parametrize("name", list(RECIPES))
def test_matched_cells_are_within_two_percent(params, name):
    params["compare_by"] = "params"
    section = params[name]
    sizes = {cell: hidden_size_for(RECIPES[name], params, name, META[name], cell) for cell in ("rnn", "gru", "lstm")}
    counts = {cell: parameter_count(RECIPES[name], section, META[name], cell, h) for cell, h in sizes.items()}
    assert sizes["lstm"] == section["model"]["hidden_size"]
    assert sizes["rnn"] > sizes["gru"] > sizes["lstm"]
    for cell in ("rnn", "gru"):
        assert abs(counts[cell] - counts["lstm"]) <= 0.02 * counts["lstm"]


def test_hidden_mode_keeps_the_configured_size(params):
    assert hidden_size_for(RECIPES["pos"], params, "pos", META["pos"], "rnn") == params["pos"]["model"]["hidden_size"]
