"""The recipe contract: what a recipe module provides, and what its task gives the engine.

A recipe is one package `recipes/<name>/`, loaded by name with `load_recipe`,
so a stage imports only its own recipe. `tests/test_contract.py` checks every
recipe listed in params.yaml against `Recipe` and `Task`.

Shape letters used across the recipes: B batch, T target/time steps, S source
steps, E embedding size, H hidden size, D directions (1 or 2), L layers,
V vocabulary, C classes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from recipes.kit.errors import UserError

HIGHER, LOWER = "higher", "lower"  # which way a metric improves
RECIPES_DIR = Path(__file__).resolve().parents[1]
SHARED_PACKAGES = ("kit", "cells")  # under recipes/, but not recipes
# Keys every `Task.evaluate` returns besides the recipe's own metrics: the engine logs and plots the loss.
EVALUATE_KEYS = ("loss",)


@dataclass
class Step:
    """What one training batch yields: the mean loss and how much it covered."""

    loss: Tensor
    examples: int
    tokens: int


@runtime_checkable
class Task(Protocol):
    """What a recipe gives the engine for one (cell, seed) run, built by `make_task`."""

    meta: dict  # meta.json of the prepared data

    def train_batches(self, generator: torch.Generator) -> list[Any]:
        """This epoch's batches, in a seeded order."""

    def step(self, model: nn.Module, batch: Any) -> Step:
        """The loss of one training batch (the engine does backward and the optimiser step)."""

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        """Metrics on "valid" or "test": every key of EVALUATE_KEYS plus the recipe's METRIC and HEADLINE."""

    def samples(self, model: nn.Module, out_dir: Path) -> str:
        """Markdown showing test examples with the model's output (may write images into out_dir)."""


@runtime_checkable
class Recipe(Protocol):
    """A recipe module. Its params.yaml section is validated against SCHEMA."""

    SCHEMA: dict
    TOPOLOGY: str
    METRIC: str  # validation metric that picks the best epoch (see `selection_metric`)
    HEADLINE: str  # test metric the report's claims use
    DIRECTIONS: dict[str, str]  # every metric evaluate returns → HIGHER or LOWER is better (`name@L`: as `name`)

    def download(self, section: dict, raw_dir: Path, seed: int) -> None:
        """Fetch (or generate with `seed`) the dataset into raw_dir in the recipe's raw format, with SOURCE.json."""

    def prepare(self, section: dict, raw_dir: Path, out_dir: Path, seed: int) -> None:
        """Split and encode once into out_dir: data.pt, vocab.json, meta.json (sizes, baseline, source)."""

    def build_model(self, section: dict, meta: dict, cell: str, hidden_size: int) -> nn.Module:
        """The recipe's model for `cell` at `hidden_size`."""

    def make_task(self, section: dict, data_dir: Path, device: torch.device) -> Task:
        """The engine's view of the prepared data."""

    def predict(self, task: Task, model: nn.Module, inputs: list[str]) -> list[str]:
        """The model's answer to each raw user input, as one line of text."""

    # Optional: `check(section) -> None` raises a `UserError` on what SCHEMA cannot say field by field
    # (e.g. one key bounded by another); `load_params` calls it after the schema check.


RECIPE_MEMBERS = ("SCHEMA", "TOPOLOGY", "METRIC", "HEADLINE", "DIRECTIONS",
                  "download", "prepare", "build_model", "make_task", "predict")


def is_recipe_name(name: str) -> bool:
    """Whether the package `recipes/<name>/` exists and is a recipe (without importing it)."""
    return (name.isidentifier() and name not in SHARED_PACKAGES
            and (RECIPES_DIR / name / "__init__.py").is_file())


def load_recipe(name: str) -> ModuleType:
    """Import `recipes.<name>` and check that it provides the contract."""
    if not is_recipe_name(name):
        raise UserError(f"unknown recipe {name!r}: there is no recipes/{name}/")
    module = importlib.import_module(f"recipes.{name}")
    missing = [m for m in RECIPE_MEMBERS if not hasattr(module, m)]
    if missing:
        raise UserError(f"recipes/{name}/ is not a recipe: it lacks {', '.join(sorted(missing))}")
    return module


def selection_metric(recipe: ModuleType, section: dict) -> str:
    """The validation metric that picks the best epoch: the recipe's `train.select_by` when it has one
    and it is not `auto`; with `auto`, its SENTENCE_METRIC on a real dataset (any but its GENERATED ones,
    by default `embedded`), where a whole-sentence exact match hardly ever leaves 0; else its METRIC."""
    generated = getattr(recipe, "GENERATED", ("embedded",))
    chosen, real = section["train"].get("select_by", "auto"), section["source"]["dataset"] not in generated
    if chosen != "auto":
        return chosen
    return getattr(recipe, "SENTENCE_METRIC", recipe.METRIC) if real else recipe.METRIC


def metric_base(key: str) -> str:
    """The metric a key reports: `accuracy@200` (accuracy at input length 200) → `accuracy`."""
    return key.split("@")[0]


def better(direction: str, new: float, old: float) -> bool:
    """Whether `new` beats `old` for a metric that improves in `direction`."""
    return new > old if direction == HIGHER else new < old


def worst(direction: str) -> float:
    """A score every real score beats."""
    return float("-inf") if direction == HIGHER else float("inf")
