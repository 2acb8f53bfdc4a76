"""Tuning one (recipe, cell) with Optuna, and applying the chosen settings to a run.

Every trial trains once per seed of `tune.seeds` (kept apart from the study's
`seeds`, so settings are not chosen on the noise they are judged with), each
with the recipe's early stopping, and scores the mean of their best validation
scores. The search space is recipes/kit/space.py's. Trial 0 is always
params.yaml's own settings, so tuning can only match or beat them on
validation. A trial is pruned when its running mean validation score (the
seeds trained so far, at that epoch) trails the median of earlier trials at the
same step, or when training diverges.

The study lives in a journal file (data/journal/), outside DVC's
outputs: an interrupted tuning resumes with the trials it finished, and
several processes running the same tune stage share one study. A study's name
carries a fingerprint of everything its trials depend on, so a changed setting
starts a new study instead of mixing old trials in; raising `tune.trials`
continues the same one. A process seeds its sampler with `seed` plus the trials
the study already holds: a fresh study draws what it always drew, and a resumed
one does not draw its first settings again. A trial left running by a process
that is gone (killed, or its machine restarted) is not counted, and trial 0 is
queued again if it was one.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import statistics
import time
from typing import Any, Callable

from recipes.kit.contract import HIGHER, selection_metric
from recipes.kit.engine import Diverged, fit
from recipes.kit.errors import UserError
from recipes.kit.params import Params
from recipes.kit.sizing import hidden_size_for
from recipes.kit.space import TUNABLE, sampled_value, setting_key, suggest, trained_value, tuned_names
from stages.common import paths
from stages.common.runs import build, start_run

JOURNAL = paths.JOURNAL
# Who runs a trial (user attribute "process"), so a later process can tell a trial whose process is gone.
PROCESS = f"{socket.gethostname()}:{os.getpid()}"
# TPE samples at random for its first trials (trial 0 is params.yaml's), then models the scores.
TPE_STARTUP_TRIALS = 4
# A trial may be pruned from epoch 3 on, once 3 trials have finished: a low learning rate
# starts slowly, and pruning after one epoch would favour high ones.
PRUNER = {"n_startup_trials": 3, "n_warmup_steps": 3}


def data_fingerprint(recipe: str) -> str:
    """MD5 over the recipe's prepared files (names and bytes)."""
    digest = hashlib.md5()
    for path in sorted((paths.PREPARED / recipe).rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def study_name(params: Params, recipe: str, cell: str) -> str:
    """`<recipe>-<cell>-<fingerprint>`: the fingerprint covers what trials depend on, not their number."""
    tune, section = params["tune"], params[recipe]
    depends = {"space": tune["space"][recipe], "sampler": tune["sampler"], "tpe_startup": TPE_STARTUP_TRIALS,
               "tune_seeds": tune["seeds"],
               "pruner": PRUNER if tune["prune"] else None,
               "seed": params["seed"], "model": section["model"], "train": section["train"],
               "threads": params["threads"], "device": params["device"], "compare_by": params["compare_by"],
               "reference_cell": params["reference_cell"], "data": data_fingerprint(recipe)}
    text = json.dumps(depends, sort_keys=True, default=dict)
    return f"{recipe}-{cell}-{hashlib.md5(text.encode()).hexdigest()[:12]}"


def make_study(params: Params, recipe: str, cell: str, direction: str) -> Any:
    """The Optuna study of (recipe, cell) in its journal file, created or resumed."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tune = params["tune"]
    JOURNAL.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(JOURNAL / f"{recipe}-{cell}.log")))
    pruner = optuna.pruners.MedianPruner(**PRUNER) if tune["prune"] else optuna.pruners.NopPruner()
    study = optuna.create_study(study_name=study_name(params, recipe, cell), storage=storage, load_if_exists=True,
                                direction="maximize" if direction == HIGHER else "minimize", pruner=pruner)
    # Seeded with `seed` alone, a resumed study would draw its first random settings again.
    seed = params["seed"] + len(study.get_trials(deepcopy=False))
    study.sampler = (optuna.samplers.TPESampler(seed=seed, n_startup_trials=TPE_STARTUP_TRIALS)
                     if tune["sampler"] == "tpe" else optuna.samplers.RandomSampler(seed=seed))
    return study


def score_at(history: list[dict], epoch: int) -> float:
    """A finished run's validation score at `epoch` (its last one when it stopped before)."""
    return history[min(epoch, len(history)) - 1]["valid_metric"]


def objective(params: Params, recipe: str, cell: str) -> Callable[[Any], float]:
    """One trial: train (recipe, cell) once per tune seed with the trial's settings; the mean of their best
    validation scores. Seed i's epoch e reports at step i × epochs + e the mean over the seeds so far."""
    import optuna

    space, seeds = params["tune"]["space"][recipe], params["tune"]["seeds"]
    epochs = params[recipe]["train"]["epochs"]

    def trial_score(trial: optuna.Trial) -> float:
        values = {name: suggest(trial, name, space[name]) for name in tuned_names(space)}
        trial_params = params.replaced({f"{recipe}.{setting_key(name)}": v for name, v in values.items()})
        histories: list[list[dict]] = []
        trial.set_user_attr("process", PROCESS)
        start = time.perf_counter()
        try:
            for i, seed in enumerate(seeds):
                histories.append(train_trial(trial, trial_params, recipe, cell, seed, histories, i * epochs))
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 2))
        trial.set_user_attr("epochs", sum(len(h) for h in histories))
        return statistics.fmean(next(row["valid_metric"] for row in h if row["selected"]) for h in histories)

    return trial_score


def train_trial(trial: Any, params: Params, recipe: str, cell: str, seed: int, earlier: list[list[dict]],
                step_offset: int) -> list[dict]:
    """One seed of a trial: its history, each row marked `selected` on the epoch early stopping kept."""
    import optuna

    run = start_run(params, recipe, seed)
    model = build(run, cell, hidden_size_for(run.recipe, params, recipe, run.meta, cell))
    metric = selection_metric(run.recipe, run.section)

    def prune_hopeless(epoch: int, score: float) -> None:
        mean = statistics.fmean([score_at(h, epoch) for h in earlier] + [score])
        trial.report(mean, step_offset + epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"mean validation {metric} {mean:.4f} trails the median at epoch {epoch}")

    try:
        result = fit(run.task, model, run.section["train"], run.generator, metric,
                     run.recipe.DIRECTIONS[metric], log=lambda line: None, on_epoch=prune_hopeless)
    except Diverged as err:
        raise optuna.TrialPruned(f"diverged: {err}") from err
    return [{**row, "selected": row["epoch"] == result.best_epoch} for row in result.history]


def abandoned(trial: Any) -> bool:
    """A running trial whose process, on this machine, is gone: it will never finish."""
    from optuna.trial import TrialState

    host, _, pid = trial.user_attrs.get("process", "").rpartition(":")
    if trial.state != TrialState.RUNNING or host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def finished(study: Any) -> list[Any]:
    """The study's completed and pruned trials, in trial order (failed and running ones do not count)."""
    from optuna.trial import TrialState

    return [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def search(params: Params, recipe: str, cell: str, log: Callable[[str], None] = print) -> dict:
    """Run (or resume, or join) the study of (recipe, cell) until it holds `tune.trials` finished trials;
    return the chosen settings and the trial table of the first `tune.trials` of them."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    from recipes.kit.contract import load_recipe

    target, space = params["tune"]["trials"], params["tune"]["space"][recipe]
    module = load_recipe(recipe)
    metric = selection_metric(module, params[recipe])
    study = make_study(params, recipe, cell, module.DIRECTIONS[metric])
    untuned = {name: sampled_value(name, space[name], params[recipe][TUNABLE[name].part][name])
               for name in tuned_names(space)}
    gone = [t.number for t in study.trials if abandoned(t)]
    live = [t for t in study.trials if t.state != TrialState.FAIL and t.number not in gone]
    if not any(settings_of(t) == untuned for t in live):
        study.enqueue_trial(untuned)  # the first trial: params.yaml's own settings (again, if interrupted)
    done = len(finished(study))
    log(f"{recipe} {cell}: study {study.study_name}, {done} of {target} trials finished before"
        + (f"; trial {', '.join(map(str, gone))} of a process that is gone not counted" if gone else ""))

    def log_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        settings = "  ".join(f"{k} {v:.3g}" for k, v in trial.params.items())
        outcome = (f"valid {metric} {trial.value:.4f}" if trial.state == TrialState.COMPLETE
                   else trial.state.name.lower())
        log(f"trial {trial.number}: {settings} → {outcome} ({trial.user_attrs.get('seconds', 0):.1f} s)")

    if done < target:
        study.optimize(objective(params, recipe, cell), catch=(),
                       callbacks=[log_trial, MaxTrialsCallback(target, states=(TrialState.COMPLETE,
                                                                                TrialState.PRUNED))])
    trials = finished(study)[:target]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        raise UserError(f"every tuning trial of {recipe} {cell} was pruned or diverged: narrow "
                        f"tune.space.{recipe} in params.yaml (lower lr) or raise tune.trials")
    sign = -1 if module.DIRECTIONS[metric] == HIGHER else 1
    best = min(complete, key=lambda t: (sign * t.value, t.number))  # the best score; on a tie, the earlier trial
    return {"recipe": recipe, "cell": cell, "trials": len(trials), "metric": metric,
            "direction": module.DIRECTIONS[metric], "study": study.study_name,
            "settings": {setting_key(name): trained_value(name, space[name], value)
                         for name, value in best.params.items()},
            "best_trial": best.number, "valid_score": best.value,
            "untuned_valid_score": next((t.value for t in trials if settings_of(t) == untuned), None),
            "table": [trial_row(t, space) for t in trials]}


def settings_of(trial: Any) -> dict:
    """A trial's settings: those it sampled, or those it was enqueued with (a waiting trial)."""
    return trial.params or trial.system_attrs.get("fixed_params", {})


def trial_row(trial: Any, space: dict) -> dict:
    """One line of the trial table: number, state, the settings it trained with, score (last reported when
    pruned), epochs over its seeds, seconds."""
    last = trial.value if trial.value is not None else (
        trial.intermediate_values[max(trial.intermediate_values)] if trial.intermediate_values else None)
    settings = {name: trained_value(name, space[name], value) for name, value in trial.params.items()}
    return {"trial": trial.number, "state": trial.state.name.lower(), **settings, "valid_score": last,
            "epochs": trial.user_attrs.get("epochs", len(trial.intermediate_values)),
            "seconds": trial.user_attrs.get("seconds")}
