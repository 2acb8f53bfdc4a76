"""Load params.yaml and validate it against the schema of every recipe.

A schema is a nested dict whose leaves are `Field`s. `load_params` rejects an
unknown key, a missing key, a wrong type or a value outside its choices with
one `UserError` line naming the key and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from recipes.errors import UserError

CELL_NAMES = ("rnn", "gru", "lstm")


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
        if self.min is not None:
            text += f" >= {self.min}"
        if self.max is not None:
            text += f" <= {self.max}"
        return text + (" (or null)" if self.nullable else "")


_KIND_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true/false", list: "a list"}


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


GLOBAL_SCHEMA: dict = {
    "seed": Field(int, min=0),
    "seeds": Field(list, item_choices=None),
    "cells": Field(list, item_choices=CELL_NAMES),
    "recipes": Field(list),
    "device": Field(str, choices=("auto", "cpu", "cuda")),
    "threads": Field(int, min=0),
    "compare_by": Field(str, choices=("hidden", "params")),
    "reference_cell": Field(str, choices=CELL_NAMES),
}


def full_schema() -> dict:
    """The global schema plus one section per registered recipe."""
    from recipes import RECIPES

    schema = dict(GLOBAL_SCHEMA)
    for name, module in RECIPES.items():
        schema[name] = module.SCHEMA
    return schema


def load_params(path: str | Path = "params.yaml") -> dict:
    """Read and validate params.yaml; raise `UserError` naming the bad key."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} not found: run from the repository root")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise UserError(f"{path} is not valid YAML: {err}") from err
    validate(params, full_schema())
    _check_lists(params)
    return params


def _check_lists(params: dict) -> None:
    from recipes import RECIPES

    seeds = params["seeds"]
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise UserError(f"params.yaml: seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    unknown = [r for r in params["recipes"] if r not in RECIPES]
    if unknown or not params["recipes"]:
        raise UserError(
            f"params.yaml: recipes must list some of {', '.join(RECIPES)}, got {params['recipes']!r}"
        )
