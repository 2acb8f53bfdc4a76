"""Tuning: the tiny study tuned end to end, an interrupted tuning resuming, equal budgets, and tuning off."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo

from recipes.kit.params import Params
from stages.common import paths
from stages.common.runs import tuned_params
from tests.conftest import TINY_TRIALS


def tunings(study: Path) -> dict[tuple[str, str], dict]:
    """Every tune stage's output in the study, by (recipe, cell)."""
    params = yaml.safe_load((study / "params.yaml").read_text())
    return {(r, c): json.loads((study / paths.tuning_file(r, c)).read_text())
            for r in params["recipes"] for c in params["cells"]}


def test_every_cell_of_every_recipe_gets_the_same_number_of_trials(study):
    for (recipe, cell), chosen in tunings(study).items():
        assert chosen["trials"] == TINY_TRIALS == len(chosen["table"]), (recipe, cell)
        assert [row["trial"] for row in chosen["table"]] == list(range(TINY_TRIALS))
        assert all(row["state"] in ("complete", "pruned") for row in chosen["table"])


def test_trial_0_is_params_yaml_and_the_best_trial_feeds_the_runs(study):
    params = yaml.safe_load((study / "params.yaml").read_text())
    for (recipe, cell), chosen in tunings(study).items():
        first = chosen["table"][0]
        assert first["lr"] == params[recipe]["train"]["lr"]
        assert first["dropout"] == params[recipe]["model"]["dropout"]
        assert first["weight_decay"] == params[recipe]["train"]["weight_decay"] == 0.0  # the decade below low
        assert first["batch_size"] == params[recipe]["train"]["batch_size"]
        best = next(row for row in chosen["table"] if row["trial"] == chosen["best_trial"])
        tuned = ("train.lr", "model.dropout", "train.weight_decay", "train.batch_size", "model.hidden_size")
        assert chosen["settings"] == {key: best[key.split(".")[1]] for key in tuned}
        completed = [row["valid_score"] for row in chosen["table"] if row["state"] == "complete"]
        assert chosen["valid_score"] == (max if chosen["direction"] == "higher" else min)(completed)
        run = json.loads((study / f"metrics/runs/{recipe}/{cell}-seed0.json").read_text())
        assert run["settings"] == chosen["settings"]  # every tunable, all of them tuned here


def test_the_report_shows_the_chosen_settings(study):
    report = (study / "reports/comparison.md").read_text()
    assert report.count("**Tuned settings**") == len(yaml.safe_load((study / "params.yaml").read_text())["recipes"])
    assert (study / "reports/plots/sentiment_tuning.png").stat().st_size > 1000


def run_tune(repo: Path, recipe: str, cell: str) -> subprocess.Popen:
    """`python -m stages.tune recipe cell` in `repo`, its output piped."""
    # A shell's background jobs start with SIGINT ignored, and Python then never raises KeyboardInterrupt:
    # give the child the default disposition, as a terminal's Ctrl-C would find it.
    return subprocess.Popen([sys.executable, "-m", "stages.tune", recipe, cell], cwd=repo, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


# Sentiment trials of a second or two: long enough for a signal to land inside one.
LONG_SENTIMENT_TRIALS = {"sentiment": {"epochs": 60, "patience": 60}}


def tuning_copy(study: Path, root: Path, trials: int, train: dict | None = None) -> Path:
    """A copy of the study's code and data with `trials`, no pruning and `train` ({recipe: settings})
    merged into the recipes' train sections: a study of its own."""
    repo = root / "repo"
    shutil.copytree(study, repo, ignore=shutil.ignore_patterns(".dvc", "models", "reports", "metrics"))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["tune"]["trials"] = trials
    params["tune"]["prune"] = False
    for recipe, settings in (train or {}).items():
        params[recipe]["train"].update(settings)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return repo


def test_two_processes_share_one_study_and_stop_at_its_budget(study, tmp_path):
    repo = tuning_copy(study, tmp_path, 4)
    workers = [run_tune(repo, "pos", "lstm") for _ in range(2)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    ran = [line for out in outputs for line in out.splitlines() if line.startswith("trial ")]
    assert 4 <= len(ran) <= 5, ran  # each stops once the shared study holds 4; one may be mid-trial then
    assert len({line.split(":")[0] for line in ran}) == len(ran)  # no trial number ran twice
    chosen = json.loads((repo / paths.tuning_file("pos", "lstm")).read_text())
    assert chosen["trials"] == 4 and len(chosen["table"]) == 4


def test_an_interrupted_tuning_resumes_without_repeating_finished_trials(study, tmp_path):
    repo = tuning_copy(study, tmp_path, 5, LONG_SENTIMENT_TRIALS)
    first = run_tune(repo, "sentiment", "gru")
    lines = []
    for line in first.stdout:
        lines.append(line)
        if line.startswith("trial 1:"):  # two trials finished: interrupt the third
            first.send_signal(signal.SIGINT)
            break
    first.communicate(timeout=60)
    assert first.returncode == 130, "".join(lines)
    second = run_tune(repo, "sentiment", "gru")
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output
    assert "2 of 5 trials finished before" in output, output
    chosen = json.loads((repo / paths.tuning_file("sentiment", "gru")).read_text())
    assert chosen["trials"] == 5
    assert [row["trial"] for row in chosen["table"]][:2] == [0, 1]
    done_before = {line.split(":")[0] for line in lines if line.startswith("trial ")}
    ran_after = [line.split(":")[0] for line in output.splitlines() if line.startswith("trial ")]
    assert done_before == {"trial 0", "trial 1"} and len(ran_after) == 3 and not done_before & set(ran_after)
    assert len({settings(row) for row in chosen["table"]}) == 5  # the resumed sampler drew new settings


def settings(row: dict) -> tuple:
    """A trial table row's tuned settings."""
    return tuple(row[name] for name in ("lr", "dropout", "weight_decay", "batch_size", "hidden_size"))


def running_trial_of(repo: Path, recipe: str, cell: str, timeout: float = 60) -> int:
    """Wait until a trial of (recipe, cell)'s journal is running with its process recorded; its number."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    journal, start = repo / paths.JOURNAL / f"{recipe}-{cell}.log", time.monotonic()
    while time.monotonic() - start < timeout:
        if journal.exists():
            storage = JournalStorage(JournalFileBackend(str(journal)))
            for name in optuna.get_all_study_names(storage):
                for trial in optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False):
                    if trial.state == TrialState.RUNNING and "process" in trial.user_attrs:
                        return trial.number
        time.sleep(0.05)
    raise AssertionError(f"no trial of {recipe} {cell} started within {timeout} s")


def test_a_killed_tuning_queues_trial_0_again_and_does_not_count_its_running_trial(study, tmp_path):
    repo = tuning_copy(study, tmp_path, 3, LONG_SENTIMENT_TRIALS)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    first = run_tune(repo, "sentiment", "rnn")
    assert running_trial_of(repo, "sentiment", "rnn") == 0
    first.kill()  # SIGKILL, as a machine restart leaves it: trial 0 stays "running" in the journal
    first.communicate(timeout=60)
    second = run_tune(repo, "sentiment", "rnn")
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output
    assert "0 of 3 trials finished before; trial 0 of a process that is gone not counted" in output, output
    chosen = json.loads((repo / paths.tuning_file("sentiment", "rnn")).read_text())
    assert [row["trial"] for row in chosen["table"]] == [1, 2, 3]
    assert chosen["table"][0]["lr"] == params["sentiment"]["train"]["lr"]  # params.yaml's settings, queued again
    assert chosen["untuned_valid_score"] == chosen["table"][0]["valid_score"]


def test_tuning_off_leaves_train_commands_params_and_settings_as_they_were(study, tmp_path):
    with Repo(str(study)) as repo:
        trains = [s for s in repo.index.stages if s.name.startswith("train@")]
    for stage in trains:
        recipe, cell, seed = stage.name.split("@")[1].split("-")
        assert stage.cmd == f"python -m stages.train {recipe} {cell} {seed}"
        keys = {k for dep in stage.deps if hasattr(dep, "params") for k in dep.params}
        # source.dataset: real sentences pick the best epoch by BLEU (contract.selection_metric)
        assert keys == {"device", "threads", "compare_by", "reference_cell", f"{recipe}.source.dataset",
                        f"{recipe}.model", f"{recipe}.train"}
    params = Params(yaml.safe_load((study / "params.yaml").read_text()))
    off = tmp_path / paths.tuning_file("pos", "gru")
    off.parent.mkdir(parents=True)
    off.write_text(json.dumps({"trials": 0, "settings": {}}))
    cwd = Path.cwd()
    try:
        os.chdir(tmp_path)
        assert tuned_params(params, "pos", "gru") == params
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("space, fragment", [
    ({"lr": [0.1, 0.01], "dropout": [0.0, 0.5]}, "tune.space.pos.lr must be [low, high]"),
    ({"lr": [0.001, 0.01]}, "tune.space.pos must give lr, dropout"),
    ({"lr": [0.001, 0.01], "dropout": [0.0, 1.5]}, "tune.space.pos.dropout"),
])
def test_a_bad_search_space_is_one_clear_message(params, tmp_path, space, fragment):
    from recipes.kit.errors import UserError
    from recipes.kit.params import load_params

    params["tune"]["space"]["pos"] = space
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match=fragment.replace("[", r"\[").replace(".", r"\.")):
        load_params(path)


def test_a_weight_decay_below_the_range_trains_with_zero_and_trial_0_maps_back():
    from recipes.kit.space import contains, sampled_value, trained_value

    spec = [1e-6, 1e-3]
    assert trained_value("weight_decay", spec, 5e-7) == 0.0 and trained_value("weight_decay", spec, 2e-6) == 2e-6
    assert sampled_value("weight_decay", spec, 0.0) == 1e-7  # the bottom of the decade that stands for 0
    assert trained_value("weight_decay", spec, sampled_value("weight_decay", spec, 0.0)) == 0.0
    assert trained_value("lr", [1e-4, 1e-2], 5e-5) == 5e-5  # only weight decay has the zero decade
    assert contains("weight_decay", spec, 0.0) and not contains("weight_decay", spec, 5e-7)
    assert contains("batch_size", [32, 64], 64) and not contains("batch_size", [32, 64], 50)


def test_every_trial_trains_once_per_tune_seed(study):
    params = yaml.safe_load((study / "params.yaml").read_text())
    assert len(params["tune"]["seeds"]) == 2 and not set(params["tune"]["seeds"]) & set(params["seeds"])
    for (recipe, _), chosen in tunings(study).items():
        epochs = params[recipe]["train"]["epochs"]
        assert all(row["epochs"] == 2 * epochs for row in chosen["table"] if row["state"] == "complete"), recipe
