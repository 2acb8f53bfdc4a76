"""Tuning one (recipe, cell) with Optuna, and applying the chosen settings to a run.

Every trial is a real training with seed 0, scored on the validation split by
the recipe's metric (the same early stopping as a run). Trial 0 is always
params.yaml's own settings, so tuning can only match or beat them on
validation. A trial is pruned when its validation score trails the median of
earlier trials at the same epoch, or when training diverges.

The study lives in a journal file (data/journal/), outside DVC's
outputs: an interrupted tuning resumes with the trials it finished, and
several processes running the same tune stage share one study. A study's name
carries a fingerprint of everything its trials depend on, so a changed setting
starts a new study instead of mixing old trials in; raising `tune.trials`
continues the same one.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Callable

from recipes.kit.contract import HIGHER, selection_metric
from recipes.kit.engine import Diverged, fit
from recipes.kit.errors import UserError
from recipes.kit.params import TUNABLE, Params
from recipes.kit.sizing import hidden_size_for
from stages.common import paths
from stages.common.runs import build, start_run

TRIAL_SEED = 0
JOURNAL = paths.JOURNAL
# TPE samples at random for its first trials (trial 0 is params.yaml's), then models the scores.
TPE_STARTUP_TRIALS = 4
# A trial may be pruned from epoch 3 on, once 3 trials have finished: a low learning rate
# starts slowly, and pruning after one epoch would favour high ones.
PRUNER = {"n_startup_trials": 3, "n_warmup_steps": 3}


def setting_keys() -> dict[str, str]:
    """Each tunable name → its key in a recipe's section (`lr` → `train.lr`)."""
    return {name: f"{part}.{name}" for name, (part, _, _) in TUNABLE.items()}


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
    sampler = (optuna.samplers.TPESampler(seed=params["seed"], n_startup_trials=TPE_STARTUP_TRIALS)
               if tune["sampler"] == "tpe" else optuna.samplers.RandomSampler(seed=params["seed"]))
    pruner = optuna.pruners.MedianPruner(**PRUNER) if tune["prune"] else optuna.pruners.NopPruner()
    return optuna.create_study(study_name=study_name(params, recipe, cell), storage=storage, load_if_exists=True,
                               direction="maximize" if direction == HIGHER else "minimize",
                               sampler=sampler, pruner=pruner)


def objective(params: Params, recipe: str, cell: str) -> Callable[[Any], float]:
    """One trial: train (recipe, cell) with seed 0 and the trial's settings; its best validation score."""
    import optuna

    space, keys = params["tune"]["space"][recipe], setting_keys()

    def trial_score(trial: optuna.Trial) -> float:
        values = {name: trial.suggest_float(name, *space[name], log=(name == "lr")) for name in keys}
        trial_params = params.replaced({f"{recipe}.{keys[name]}": v for name, v in values.items()})
        run = start_run(trial_params, recipe, TRIAL_SEED)
        model = build(run, cell, hidden_size_for(run.recipe, trial_params, recipe, run.meta, cell))
        metric = selection_metric(run.recipe, run.section)

        def prune_hopeless(epoch: int, score: float) -> None:
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation {metric} {score:.4f} trails the median at epoch {epoch}")

        start = time.perf_counter()
        try:
            result = fit(run.task, model, run.section["train"], run.generator, metric,
                         run.recipe.DIRECTIONS[metric], log=lambda line: None, on_epoch=prune_hopeless)
        except Diverged as err:
            raise optuna.TrialPruned(f"diverged: {err}") from err
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 2))
        trial.set_user_attr("epochs", result.epochs_run)
        trial.set_user_attr("best_epoch", result.best_epoch)
        return result.history[result.best_epoch - 1]["valid_metric"]

    return trial_score


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

    target, keys = params["tune"]["trials"], setting_keys()
    module = load_recipe(recipe)
    metric = selection_metric(module, params[recipe])
    study = make_study(params, recipe, cell, module.DIRECTIONS[metric])
    untuned = {name: params[recipe][part][name] for name, (part, _, _) in TUNABLE.items()}
    if not any(settings_of(t) == untuned for t in study.trials if t.state != TrialState.FAIL):
        study.enqueue_trial(untuned)  # the first trial: params.yaml's own settings (again, if interrupted)
    done = len(finished(study))
    log(f"{recipe} {cell}: study {study.study_name}, {done} of {target} trials finished before")

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
            "settings": {keys[name]: value for name, value in best.params.items()},
            "best_trial": best.number, "valid_score": best.value,
            "untuned_valid_score": next((t.value for t in trials if settings_of(t) == untuned), None),
            "table": [trial_row(t) for t in trials]}


def settings_of(trial: Any) -> dict:
    """A trial's settings: those it sampled, or those it was enqueued with (a waiting trial)."""
    return trial.params or trial.system_attrs.get("fixed_params", {})


def trial_row(trial: Any) -> dict:
    """One line of the trial table: number, state, settings, score (last reported when pruned), epochs, seconds."""
    last = trial.value if trial.value is not None else (
        trial.intermediate_values[max(trial.intermediate_values)] if trial.intermediate_values else None)
    return {"trial": trial.number, "state": trial.state.name.lower(), **trial.params, "valid_score": last,
            "epochs": trial.user_attrs.get("epochs", len(trial.intermediate_values)),
            "seconds": trial.user_attrs.get("seconds")}
