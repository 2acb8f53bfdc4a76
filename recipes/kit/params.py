"""Load params.yaml and validate it against the schema of every recipe.

A schema is a nested dict whose leaves are `Field`s. `load_params` rejects an
unknown key, a missing key, a wrong type or a value outside its choices with
one `UserError` line naming the key and what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from recipes.cells import cell_names
from recipes.kit.contract import is_recipe_name, load_recipe
from recipes.kit.errors import UserError
from recipes.kit.space import check_space, check_trial_zero


@dataclass(frozen=True)
class Field:
    """One leaf of a params schema: its type and the values it allows."""

    kind: type | tuple[type, ...]
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    item_choices: tuple | None = None  # for lists: allowed values of each item
    nullable: bool = False

    def describe(self) -> str:
        """Say in words what this field allows."""
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        text = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
        if self.choices:
            text = "one of " + ", ".join(map(str, self.choices))
        if self.item_choices:
            text += " with items from " + ", ".join(map(str, self.item_choices))
        if self.min is not None and self.max is not None:
            text += f" from {self.min:g} to {self.max:g}"
        elif self.min is not None:
            text += f" >= {self.min}"
        elif self.max is not None:
            text += f" <= {self.max}"
        return text + (" (or null)" if self.nullable else "")


_KIND_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true/false", list: "a list",
               dict: "a mapping"}


def _type_ok(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds)


def _check_field(key: str, value: Any, field: Field) -> None:
    if value is None and field.nullable:
        return
    ok = _type_ok(value, field.kind)
    if ok and field.choices is not None:
        ok = value in field.choices
    if ok and field.item_choices is not None:
        ok = len(value) > 0 and all(item in field.item_choices for item in value)
    if ok and field.min is not None and not isinstance(value, (str, list)):
        ok = value >= field.min
    if ok and field.max is not None and not isinstance(value, (str, list)):
        ok = value <= field.max
    if not ok:
        raise UserError(f"params.yaml: {key} must be {field.describe()}, got {value!r}")


def validate(params: Any, schema: dict, prefix: str = "") -> None:
    """Raise `UserError` on the first key of `params` that `schema` does not allow."""
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(params, dict):
        raise UserError(f"params.yaml: {where} must be a mapping, got {params!r}")
    for key in params:
        if key not in schema:
            allowed = ", ".join(schema)
            raise UserError(f"params.yaml: unknown key {prefix}{key} (allowed here: {allowed})")
    for key, spec in schema.items():
        if key not in params:
            raise UserError(f"params.yaml: missing key {prefix}{key}")
        if isinstance(spec, Field):
            _check_field(prefix + key, params[key], spec)
        else:
            validate(params[key], spec, prefix + key + ".")


# The `model` params every recipe shares: sizes of an embedding + recurrent stack.
MODEL_SCHEMA = {
    "embed_dim": Field(int, min=1),
    "hidden_size": Field(int, min=1),
    "num_layers": Field(int, min=1),
    "bidirectional": Field(bool),
    "dropout": Field(float, min=0.0, max=0.9),
}

GLOBAL_SCHEMA: dict = {
    "seed": Field(int, min=0),
    "seeds": Field(list, item_choices=None),
    "cells": Field(list, item_choices=cell_names()),
    "recipes": Field(list),
    "device": Field(str, choices=("auto", "cpu", "cuda")),
    "threads": Field(int, min=0),
    "compare_by": Field(str, choices=("hidden", "params")),
    "reference_cell": Field(str, choices=cell_names()),
    "tune": {
        "trials": Field(int, min=0, max=10_000),
        "seeds": Field(list),
        "sampler": Field(str, choices=("tpe", "random")),
        "prune": Field(bool),
        "space": Field(dict),
    },
    # Gradient through time (measured by evaluate): the training seed whose models, the batch's rows.
    "gradients": {
        "seed": Field(int, min=0),
        "rows": Field(int, min=1),
    },
}



# Every leaf key a stage read from its params (dotted), for the dependency trace (stages/common/cli.py).
KEYS_READ: set[str] = set()


class Params(dict):
    """Validated params as a stage sees them: a dict that notes each leaf key it is asked for.

    Reading `params["pos"]` notes nothing; reading `params["pos"]["train"]["lr"]` notes
    `pos.train.lr`. tests/test_dependencies.py compares the notes with dvc.yaml's params.
    """

    def __init__(self, data: dict, prefix: str = "") -> None:
        super().__init__({k: Params(v, f"{prefix}{k}.") if isinstance(v, dict) else v for k, v in data.items()})
        self._prefix = prefix

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if not isinstance(value, Params):
            KEYS_READ.add(f"{self._prefix}{key}")
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return [(k, self[k]) for k in self]

    def values(self) -> list[Any]:  # type: ignore[override]
        return [self[k] for k in self]

    def replaced(self, updates: dict[str, Any]) -> Params:
        """A copy with the dotted keys of `updates` (`pos.train.lr`) set to new values; reads are still noted."""
        data = _plain(self)
        for dotted, value in updates.items():
            *parents, leaf = dotted.split(".")
            node = data
            for part in parents:
                node = node[part]
            if leaf not in node:
                raise KeyError(dotted)
            node[leaf] = value
        return Params(data, self._prefix)


def _plain(value: Any) -> Any:
    """Nested dicts copied without noting any read (dict.items, not Params.items)."""
    return {k: _plain(v) for k, v in dict.items(value)} if isinstance(value, dict) else value


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading floats as YAML 1.2 (and DVC) do: `1e-3` is a number, not a string."""


Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+|\.[0-9_]+[eE][-+]?[0-9]+)$"""),
    list("-+0123456789."),
)


def read_yaml(path: str | Path) -> dict:
    """params.yaml as a plain dict; a missing or malformed file is a `UserError`."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} not found: run from the repository root")
    try:
        params = yaml.load(path.read_text(), Loader=Yaml12Loader)  # a SafeLoader
    except yaml.YAMLError as err:
        raise UserError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(params, dict):
        raise UserError(f"{path} must be a mapping of keys to values, got {params!r}")
    return params


def load_params(path: str | Path = "params.yaml", recipe: str | None = None) -> Params:
    """Read params.yaml; validate the global keys, the top-level names and, given `recipe`,
    that recipe's section (only that recipe is imported). Raise `UserError` naming the bad key."""
    try:
        return _validated(read_yaml(path), recipe)
    except UserError as err:  # the checks below say params.yaml; name the file that was read
        raise UserError(str(err).replace("params.yaml:", f"{path}:", 1)) from None


def _validated(params: dict, recipe: str | None) -> Params:
    for key in params:
        if key not in GLOBAL_SCHEMA and not is_recipe_name(key):
            allowed = ", ".join([*GLOBAL_SCHEMA, "or a recipe's section"])
            raise UserError(f"params.yaml: unknown key {key} (allowed here: {allowed})")
    validate({k: v for k, v in params.items() if k in GLOBAL_SCHEMA}, GLOBAL_SCHEMA)
    _check_lists(params)
    _check_space(params)
    if recipe is not None:
        if not is_recipe_name(recipe):
            raise UserError(f"unknown recipe {recipe!r}: there is no recipes/{recipe}/ "
                            f"(params.yaml's recipes: {', '.join(params['recipes'])})")
        if recipe not in params:
            raise UserError(f"params.yaml: missing section {recipe} (the recipe's settings)")
        module = load_recipe(recipe)
        validate(params[recipe], module.SCHEMA, recipe + ".")
        if hasattr(module, "check"):  # what a schema cannot say field by field (recipes/kit/contract.py)
            module.check(params[recipe])
        if params["tune"]["trials"] > 0 and recipe in params["recipes"]:
            check_trial_zero(recipe, params["tune"]["space"][recipe], params[recipe], params["compare_by"])
    return Params(params)


def _check_space(params: dict) -> None:
    """Every listed recipe has a well-formed search space (recipes/kit/space.py)."""
    for name in params["recipes"]:
        check_space(name, params["tune"]["space"].get(name))


def _int_list(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                            for v in values)


def _check_lists(params: dict) -> None:
    seeds, tune_seeds = params["seeds"], params["tune"]["seeds"]
    for key, values in (("seeds", seeds), ("tune.seeds", tune_seeds)):
        if not values or not _int_list(values):
            raise UserError(f"params.yaml: {key} must be a non-empty list of integers >= 0, got {values!r}")
    shared = sorted(set(seeds) & set(tune_seeds))
    if shared:
        raise UserError(f"params.yaml: tune.seeds {tune_seeds!r} share {shared} with seeds {seeds!r}: tuning must "
                        "choose settings on other noise than the runs it is judged by; pick other tune.seeds")
    names = params["recipes"]
    unknown = [r for r in names if not isinstance(r, str) or not is_recipe_name(r) or r not in params]
    if unknown or not names:
        raise UserError(f"params.yaml: recipes must list recipes that have a recipes/<name>/ package and a "
                        f"section in params.yaml; these do not: {unknown or names!r}")
    for key, values in (("seeds", seeds), ("tune.seeds", tune_seeds), ("cells", params["cells"]), ("recipes", names)):
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated:
            raise UserError(f"params.yaml: {key} lists {', '.join(repeated)} more than once; each may appear once "
                            f"(got {values!r})")
