"""The tuning search space: which settings a tuner may change, how each is sampled, and its checks.

params.yaml's `tune.space.<recipe>` gives, per setting:
  lr            [low, high], log scale (low > 0)
  dropout       [low, high], linear
  weight_decay  [low, high], log scale with 0 reachable: the decade below `low` stands for 0
                (a trial samples log-uniformly in [low / 10, high]; a value under `low` trains with 0)
  batch_size    a list of choices (categorical)
  hidden_size   a list of choices, only under `compare_by: hidden` (under `params` the size is matched)
lr and dropout are required; the others may be left out or null (not tuned). With `tune.trials` > 0,
params.yaml's own settings must lie in the space: they are trial 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recipes.kit.errors import UserError

LOG, LINEAR, LOG_OR_ZERO, CHOICE = "log", "linear", "log or 0", "choice"


@dataclass(frozen=True)
class Tunable:
    """Where a setting lives in a recipe's section, how it is sampled, and the bounds of its range."""

    part: str
    kind: str
    low: float
    high: float

    def describe(self) -> str:
        """What the space may give for this setting, in words."""
        if self.kind == CHOICE:
            return f"a non-empty list of integers from {self.low:g} to {self.high:g}"
        positive = " with 0 < low" if self.kind in (LOG, LOG_OR_ZERO) else ""
        return f"[low, high] with {self.low:g} <= low <= high <= {self.high:g}{positive}"


TUNABLE = {
    "lr": Tunable("train", LOG, 1e-7, 10.0),
    "dropout": Tunable("model", LINEAR, 0.0, 0.9),
    "weight_decay": Tunable("train", LOG_OR_ZERO, 0.0, 1.0),
    "batch_size": Tunable("train", CHOICE, 1, 1_000_000),
    "hidden_size": Tunable("model", CHOICE, 1, 1_000_000),
}
REQUIRED = ("lr", "dropout")
EXAMPLE = "{lr: [0.0003, 0.03], dropout: [0.0, 0.5], weight_decay: [1.0e-6, 1.0e-3], batch_size: [32, 64, 128]}"


def setting_key(name: str) -> str:
    """A tunable's key in a recipe's section: `lr` → `train.lr`."""
    return f"{TUNABLE[name].part}.{name}"


def tuned_names(ranges: dict) -> list[str]:
    """The settings a recipe's space tunes (given and not null), in TUNABLE's order."""
    return [name for name in TUNABLE if ranges.get(name) is not None]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _valid(tunable: Tunable, spec: Any) -> bool:
    if tunable.kind == CHOICE:
        return (isinstance(spec, list) and len(spec) > 0 and len(set(spec)) == len(spec)
                and all(isinstance(v, int) and not isinstance(v, bool) and tunable.low <= v <= tunable.high
                        for v in spec))
    ok = (isinstance(spec, list) and len(spec) == 2 and all(_number(v) for v in spec)
          and tunable.low <= spec[0] <= spec[1] <= tunable.high)
    return ok and (tunable.kind == LINEAR or spec[0] > 0)


def check_space(name: str, ranges: Any) -> None:
    """A recipe's `tune.space` entry has every required setting, only known ones, each well formed."""
    where = f"params.yaml: tune.space.{name}"
    if not isinstance(ranges, dict) or any(r not in ranges or ranges[r] is None for r in REQUIRED):
        optional = ", ".join(n for n in TUNABLE if n not in REQUIRED)
        raise UserError(f"{where} must give {', '.join(REQUIRED)} (and may give {optional}), "
                        f"e.g. {EXAMPLE}; got {ranges!r}")
    unknown = sorted(set(ranges) - set(TUNABLE))
    if unknown:
        raise UserError(f"{where}: unknown setting {', '.join(unknown)} (tunable: {', '.join(TUNABLE)})")
    for setting in tuned_names(ranges):
        if not _valid(TUNABLE[setting], ranges[setting]):
            touching = " (a log scale cannot reach 0: weight_decay's decade below low stands for 0)" if (
                TUNABLE[setting].kind in (LOG, LOG_OR_ZERO)) else ""
            raise UserError(f"{where}.{setting} must be {TUNABLE[setting].describe()}{touching}, "
                            f"got {ranges[setting]!r}")


def check_trial_zero(name: str, ranges: dict, section: dict, compare_by: str) -> None:
    """With tuning on: no hidden_size choice under compare_by: params, and params.yaml's own settings
    (trial 0) inside the space."""
    if compare_by == "params" and ranges.get("hidden_size") is not None:
        raise UserError(f"params.yaml: tune.space.{name}.hidden_size is tuned, but compare_by: params matches "
                        f"each cell's hidden size to the reference's parameter count; set "
                        f"tune.space.{name}.hidden_size to null, or use compare_by: hidden")
    for setting in tuned_names(ranges):
        spec, own = ranges[setting], section[TUNABLE[setting].part][setting]
        if not contains(setting, spec, own):
            raise UserError(f"params.yaml: {name}.{setting_key(setting)} is {own!r}, outside "
                            f"tune.space.{name}.{setting} {spec!r}: trial 0 trains params.yaml's own "
                            "settings, so the space must include them")


def suggest(trial: Any, setting: str, spec: list) -> Any:
    """The value an Optuna trial samples for `setting` (weight_decay under `low` becomes 0)."""
    kind = TUNABLE[setting].kind
    if kind == CHOICE:
        return trial.suggest_categorical(setting, spec)
    if kind == LOG_OR_ZERO:
        return trained_value(setting, spec, trial.suggest_float(setting, spec[0] / 10, spec[1], log=True))
    return trial.suggest_float(setting, spec[0], spec[1], log=kind == LOG)


def sampled_value(setting: str, spec: list, value: Any) -> Any:
    """What a trial samples to train with `value` (the inverse of `suggest`: 0 weight decay → low / 10)."""
    return spec[0] / 10 if TUNABLE[setting].kind == LOG_OR_ZERO and value == 0 else value


def trained_value(setting: str, spec: list, sampled: Any) -> Any:
    """What a trial trains with, given what it sampled (`suggest`'s mapping)."""
    return 0.0 if TUNABLE[setting].kind == LOG_OR_ZERO and sampled < spec[0] else sampled


def trained_distribution(setting: str, spec: list) -> Any:
    """The Optuna distribution of the values trials trained with (for importance: weight_decay from 0)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    kind = TUNABLE[setting].kind
    if kind == CHOICE:
        return CategoricalDistribution(spec)
    return FloatDistribution(0.0 if kind == LOG_OR_ZERO else spec[0], spec[1], log=kind == LOG)


def contains(setting: str, spec: list, value: Any) -> bool:
    """Whether a trial could have trained with `value` under `spec`."""
    kind = TUNABLE[setting].kind
    if kind == CHOICE:
        return value in spec
    return spec[0] <= value <= spec[1] or (kind == LOG_OR_ZERO and value == 0)
