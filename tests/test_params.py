"""params.yaml validation: one line naming the key and what is allowed.

The example section is the first of params.yaml's recipes; the keys used are the
ones every recipe shares (train, model)."""

import subprocess
import sys

import pytest
import yaml

from recipes.kit.errors import UserError
from recipes.kit.params import Params, load_params
from tests.conftest import ROOT, run_in_process

NAME = yaml.safe_load((ROOT / "params.yaml").read_text())["recipes"][0]


def write(tmp_path, params):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_committed_params_are_valid_for_every_recipe(params):
    for name in params["recipes"]:
        assert load_params("params.yaml", name)["cells"] == ["rnn", "gru", "lstm"]


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda p: p[NAME]["train"].update(lr="fast"), f"{NAME}.train.lr must be a number"),
        (lambda p: p[NAME]["model"].update(hidden=3), f"unknown key {NAME}.model.hidden"),
        (lambda p: p[NAME]["source"].update(dataset="yelp"), f"{NAME}.source.dataset must be one of"),
        (lambda p: p.update(cells=["rnn", "transformer"]), "cells must be a list with items from rnn, gru, lstm, "),
        (lambda p: p.update(device="tpu"), "device must be one of auto, cpu, cuda"),
        (lambda p: p[NAME]["train"].update(epochs=0), f"{NAME}.train.epochs must be an integer >= 1"),
        (lambda p: p[NAME]["train"].update(lr=1.0e9), f"{NAME}.train.lr must be a number from 1e-07 to 10, got 1"),
        (lambda p: p[NAME]["train"].update(lr=0.0), f"{NAME}.train.lr must be a number from 1e-07 to 10, got 0.0"),
        (lambda p: p[NAME]["model"].update(dropout="yes"), "dropout must be a number"),
        (lambda p: p[NAME]["model"].pop("dropout"), f"missing key {NAME}.model.dropout"),
        (lambda p: p.update(seeds=[]), "seeds must be a non-empty list"),
        (lambda p: p.update(recipes=[NAME, "speech"]), "recipes must list recipes that have a recipes/<name>/"),
        (lambda p: p.update(sedes=[0]), "unknown key sedes"),
        (lambda p: p.pop(NAME), "recipes must list recipes that have a recipes/<name>/ package and a section"),
        (lambda p: p.update(seeds=[0, 0]), "seeds lists 0 more than once; each may appear once (got [0, 0])"),
        (lambda p: p.update(cells=["rnn", "gru", "rnn"]), "cells lists rnn more than once"),
        (lambda p: p.update(recipes=[NAME, NAME]), f"recipes lists {NAME} more than once"),
        # the tuning space (recipes/kit/space.py) and tune seeds
        (lambda p: p["tune"].update(seeds=[100, 0]), "tune.seeds [100, 0] share [0] with seeds [0, 1, 2]"),
        (lambda p: p["tune"].update(seeds=[]), "tune.seeds must be a non-empty list of integers"),
        (lambda p: p["tune"]["space"][NAME].update(batch_size=[]),
         f"tune.space.{NAME}.batch_size must be a non-empty list of integers"),
        (lambda p: p["tune"]["space"][NAME].update(weight_decay=[0.0, 0.001]),
         "with 0 < low (a log scale cannot reach 0: weight_decay's decade below low stands for 0), got [0.0, 0.001]"),
        (lambda p: p["tune"]["space"][NAME].update(lr=[0.0, 0.01]), f"tune.space.{NAME}.lr must be [low, high]"),
        (lambda p: p["tune"]["space"][NAME].update(momentum=[0.1, 0.9]),
         f"tune.space.{NAME}: unknown setting momentum"),
        (lambda p: p["tune"]["space"][NAME].pop("dropout"), f"tune.space.{NAME} must give lr, dropout"),
        (lambda p: (p.update(compare_by="params"), p["tune"].update(trials=4)),
         f"tune.space.{NAME}.hidden_size is tuned, but compare_by: params matches"),
        (lambda p: (p[NAME]["train"].update(batch_size=7), p["tune"].update(trials=4)),
         f"{NAME}.train.batch_size is 7, outside tune.space.{NAME}.batch_size"),
    ],
)
def test_bad_params_name_the_key(tmp_path, params, change, expected):
    change(params)
    with pytest.raises(UserError) as err:
        load_params(write(tmp_path, params), NAME)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_integer_is_accepted_where_a_number_is_expected(tmp_path, params):
    params[NAME]["train"]["lr"] = 1
    assert load_params(write(tmp_path, params), NAME)[NAME]["train"]["lr"] == 1


def test_reads_are_noted_by_leaf_key():
    from recipes.kit import params as module

    module.KEYS_READ.clear()
    params = Params({"a": {"b": 1, "c": {"d": 2}}, "e": [3]})
    assert params["a"]["b"] == 1 and params["e"] == [3] and dict(params["a"]["c"].items()) == {"d": 2}
    assert module.KEYS_READ == {"a.b", "e", "a.c.d"}


def test_bad_stage_params_exit_with_one_line_and_no_output(tmp_path, params):
    params[NAME]["train"]["lr"] = "fast"
    bad = write(tmp_path, params)
    result = subprocess.run([sys.executable, "-m", "stages.download", NAME, "--params", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}: {NAME}.train.lr must be a number from 1e-07 to 10, got 'fast'"]  # the file it read


@pytest.mark.parametrize("argv, expected", [
    (["download", "speech"], "unknown recipe 'speech'"),
    (["train", NAME, "transformer", "0"], "unknown cell 'transformer': choose one of rnn, gru, lstm"),
])
def test_unknown_recipe_or_cell_is_one_line(monkeypatch, capsys, argv, expected):
    code, _, err = run_in_process(argv[0], argv[1:], ROOT, monkeypatch, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], err


def test_numbers_in_exponent_form_are_numbers_as_dvc_reads_them(tmp_path):
    text = (ROOT / "params.yaml").read_text()
    lr = yaml.safe_load(text)[NAME]["train"]["lr"]
    path = tmp_path / "params.yaml"
    path.write_text(text.replace(f"lr: {lr}", "lr: 1e-3", 1))
    assert yaml.safe_load(path.read_text())[NAME]["train"]["lr"] == "1e-3"  # PyYAML's YAML 1.1 reading
    assert load_params(path, NAME)[NAME]["train"]["lr"] == 0.001


def test_a_cell_outside_the_registry_is_a_params_error_in_the_stage(tmp_path, params, monkeypatch, capsys):
    params["cells"] = ["transformer"]
    path = write(tmp_path, params)
    code, _, err = run_in_process("train", [NAME, "transformer", "0", "--params", str(path)], ROOT, monkeypatch,
                                  capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: {path}: cells must be a list with items from rnn, gru, lstm, mingru, minlstm, got ['transformer']"]


def test_check_passes_the_committed_params_and_catches_a_typo_no_stage_reads(tmp_path, params):
    ok = subprocess.run([sys.executable, "-m", "stages.check"], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0 and ok.stdout.startswith("params.yaml: ok"), ok.stderr
    params["evaluate_every"] = 2
    path = write(tmp_path, params)
    bad = subprocess.run([sys.executable, "-m", "stages.check", "--params", str(path)],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2
    assert bad.stderr.startswith(f"error: {path}: unknown key evaluate_every (allowed here: seed, seeds")


def test_check_validates_sections_of_recipes_left_out_of_the_study(tmp_path, params, monkeypatch, capsys):
    left_out = params["recipes"].pop()
    params[left_out]["train"]["epochs"] = "many"
    code, _, err = run_in_process("check", ["--params", str(write(tmp_path, params))], ROOT, monkeypatch, capsys)
    assert code == 2 and f"{left_out}.train.epochs must be an integer" in err



def test_the_default_space_allows_compare_by_params_untuned_and_tuned_without_hidden_size(tmp_path, params):
    params["compare_by"] = "params"
    assert load_params(write(tmp_path, params), NAME)["compare_by"] == "params"  # tune.trials 0: nothing is tuned
    params["tune"]["trials"] = 4
    params["tune"]["space"][NAME]["hidden_size"] = None  # what `-S tune.space.<recipe>.hidden_size=null` gives
    assert load_params(write(tmp_path, params), NAME)["tune"]["trials"] == 4
