"""Benchmark profiles (benchmarks/profiles.yaml): every profile validates against the recipes' schemas,
and the printed `dvc exp run -S` values read back as the profile's values."""

import shlex

import pytest
import yaml

from benchmarks import profile
from recipes.kit.errors import UserError
from tests.conftest import ROOT

PROFILES = profile.load_profiles()


def test_there_is_a_profile_for_every_topology():
    assert {"translation", "pos", "sentiment", "captioning"} <= set(PROFILES)
    assert all(p["baseline"] and p["set"] for p in PROFILES.values())


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profile_params_validate_and_change_what_they_say(name):
    overrides = PROFILES[name]["set"]
    params = profile.profile_params(ROOT / "params.yaml", overrides)
    for dotted, value in overrides.items():
        node = params
        for part in dotted.split("."):
            node = node[part]
        assert node == value
    if "recipes" in overrides:  # a one-recipe profile is named after its recipe; others run the whole study
        assert params["recipes"] == [name.split("-")[0]]
    else:
        assert params["recipes"] == yaml.safe_load((ROOT / "params.yaml").read_text())["recipes"]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_exp_run_command_sets_every_value(name):
    command = profile.exp_run_command(name, PROFILES[name]["set"])
    words = shlex.split(command.replace("\\\n", " "))
    assert words[:4] == ["dvc", "exp", "run", "-n"]
    sets = [words[i + 1] for i, w in enumerate(words) if w == "-S"]
    assert profile.parse_set(sets) == PROFILES[name]["set"]


def test_a_bad_override_is_named(tmp_path):
    with pytest.raises(UserError, match="has no key translation.model.size"):
        profile.profile_params(ROOT / "params.yaml", {"translation.model.size": 3})
    with pytest.raises(UserError, match="translation.model.dropout"):
        profile.profile_params(ROOT / "params.yaml", {"translation.model.dropout": 2.0})
    written = tmp_path / "bench.yaml"
    profile.main(["translation", "--set", "translation.train.epochs=2", "--write", str(written)])
    assert yaml.safe_load(written.read_text())["translation"]["train"]["epochs"] == 2
