"""compare_by: params gives every cell a parameter count within 2 % of the reference cell's."""

import pytest
import yaml

from recipes.kit.contract import load_recipe
from recipes.kit.sizing import hidden_size_for, parameter_count
from tests.conftest import ROOT, recipe_tests

RECIPES = yaml.safe_load((ROOT / "params.yaml").read_text())["recipes"]


@pytest.mark.parametrize("name", RECIPES)
def test_matched_cells_are_within_two_percent(params, name):
    params["compare_by"] = "params"
    recipe, section, meta = load_recipe(name), params[name], recipe_tests(name).SIZING_META
    sizes = {cell: hidden_size_for(recipe, params, name, meta, cell) for cell in ("rnn", "gru", "lstm")}
    counts = {cell: parameter_count(recipe, section, meta, cell, h) for cell, h in sizes.items()}
    assert sizes["lstm"] == section["model"]["hidden_size"]
    assert sizes["rnn"] > sizes["gru"] > sizes["lstm"]
    for cell in ("rnn", "gru"):
        assert abs(counts[cell] - counts["lstm"]) <= 0.02 * counts["lstm"]


@pytest.mark.parametrize("name", RECIPES)
def test_hidden_mode_keeps_the_configured_size(params, name):
    meta = recipe_tests(name).SIZING_META
    assert hidden_size_for(load_recipe(name), params, name, meta, "rnn") == params[name]["model"]["hidden_size"]
