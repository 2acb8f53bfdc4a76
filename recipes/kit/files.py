"""The project's own files, each read by one loader that checks what its readers need.

A file that loads but is not what a stage expects — a bare tensor where a checkpoint should be,
another recipe's checkpoint, a truncated run-metrics file, a tuning result without its settings —
ends in one `UserError` naming the file, what is wrong and the command that rebuilds it, before
anything is written. Each kind is a `Spec`: required keys with their types, nested where needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Union

import torch
from torch import nn

from recipes.kit.atomic import load_torch, read_json
from recipes.kit.errors import UserError

Spec = dict[str, Union[type, tuple, "Spec"]]  # key → type (or types), or the Spec of a nested mapping

SPLITS = {"train": dict, "valid": dict, "test": dict}
META: Spec = {"sizes": {"train": int, "valid": int, "test": int}}
CHECKPOINT: Spec = {"recipe": str, "cell": str, "state_dict": dict, "train": {"hidden_size": int}}
RUN_METRICS: Spec = {"recipe": str, "cell": str, "seed": int, "test": dict, "selected_by": str,
                     **{key: (int, float) for key in ("hidden_size", "parameters", "best_epoch", "epochs_run",
                                                      "train_seconds", "seconds_per_epoch", "examples_per_s",
                                                      "tokens_per_s")}}
RECIPE_FACTS: Spec = {"topology": str, "headline": str, "directions": dict}
TUNING: Spec = {"trials": int, "settings": dict}
TIMING: Spec = {"recipe": str, "method": str, "cells": dict}


def _kind_name(kind: type | tuple) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("a mapping" if k is dict else k.__name__ for k in kinds)


def problem(data: Any, spec: Spec, prefix: str = "") -> str | None:
    """The first way `data` falls short of `spec` (`train.hidden_size is missing`), or None."""
    if not isinstance(data, dict):
        return f"{prefix.rstrip('.') or 'its content'} is {type(data).__name__}, not a mapping"
    for key, kind in spec.items():
        where = prefix + key
        if key not in data:
            return f"{where} is missing"
        if isinstance(kind, dict):
            found = problem(data[key], kind, where + ".")
            if found:
                return found
        elif not isinstance(data[key], kind) or (isinstance(data[key], bool) and kind is not bool):
            return f"{where} is {type(data[key]).__name__}, not {_kind_name(kind)}"
    return None


def require(data: Any, spec: Spec, path: str | Path, remake: str) -> Any:
    """`data` if it meets `spec`, else a UserError naming the file, what is wrong and `remake`."""
    found = problem(data, spec)
    if found:
        raise UserError(f"{path} is not what this stage expects: {found}; run `{remake}` to rebuild it")
    return data


def read_checked_json(path: str | Path, spec: Spec, remake: str) -> Any:
    """A project JSON file, checked against `spec` (run metrics, tuning results, meta)."""
    return require(read_json(path, remake), spec, path, remake)


def load_checkpoint(path: Path, recipe: str, cell: str, remake: str, device: torch.device | str = "cpu") -> dict:
    """A trained run's checkpoint, checked to be ours and trained for this recipe and cell."""
    checkpoint = require(load_torch(path, remake, device), CHECKPOINT, path, remake)
    for key, expected in (("recipe", recipe), ("cell", cell)):
        if checkpoint[key] != expected:
            raise UserError(f"{path} holds a {checkpoint[key]!r} model, not {expected!r} (was it copied from "
                            f"another run?); run `{remake}` to train the right one")
    return checkpoint


def load_weights(model: nn.Module, checkpoint: dict, path: Path, remake: str) -> nn.Module:
    """`model` with the checkpoint's weights; a shape or key mismatch is a UserError, not a traceback."""
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:  # missing / unexpected keys, size mismatches
        first = str(err).strip().splitlines()[-1].strip()
        raise UserError(f"{path} does not fit the model its recipe builds ({first}); run `{remake}` to "
                        "retrain it") from err
    return model
