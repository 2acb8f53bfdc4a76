"""Setting up one (recipe, cell, seed) run: threads, seed, device, model, task."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from torch import nn

from recipes.kit.contract import load_recipe
from recipes.kit.engine import resolve_device, seed_everything, set_threads
from recipes.kit.files import TUNING, load_checkpoint, load_weights, read_checked_json
from recipes.kit.params import Params
from stages.common import paths


@dataclass
class Run:
    """Everything a train or evaluate stage needs for one run."""

    recipe: ModuleType
    section: dict
    meta: dict
    device: torch.device
    generator: torch.Generator
    task: Any


def start_run(params: dict, recipe_name: str, seed: int) -> Run:
    """Fix threads and seeds, pick the device, and load the prepared data."""
    set_threads(params["threads"])
    generator = seed_everything(seed)
    device = resolve_device(params["device"])
    recipe = load_recipe(recipe_name)
    data_dir = paths.PREPARED / recipe_name
    section = params[recipe_name]
    task = recipe.make_task(section, data_dir, device)
    return Run(recipe, section, task.meta, device, generator, task)  # the task read meta.json already


def build(run: Run, cell: str, hidden_size: int) -> nn.Module:
    """The recipe's model on the run's device."""
    return run.recipe.build_model(run.section, run.meta, cell, hidden_size).to(run.device)


def load_trained(run: Run, recipe_name: str, cell: str, seed: int) -> tuple[nn.Module, dict]:
    """The trained model of (recipe, cell, seed) in eval mode, and its training facts."""
    path = paths.MODELS / recipe_name / f"{paths.run_name(cell, seed)}.pt"
    remake = f"dvc repro train@{recipe_name}-{cell}-{seed}"
    checkpoint = load_checkpoint(path, recipe_name, cell, remake, run.device)
    model = load_weights(build(run, cell, checkpoint["train"]["hidden_size"]), checkpoint, path, remake)
    return model.eval(), checkpoint["train"]


def tuned_params(params: Params, recipe_name: str, cell: str) -> Params:
    """`params` with the settings the tune stage chose for (recipe, cell); unchanged when tuning is off."""
    chosen = read_checked_json(paths.tuning_file(recipe_name, cell), TUNING, f"dvc repro tune@{recipe_name}-{cell}")
    return params.replaced({f"{recipe_name}.{key}": value for key, value in chosen["settings"].items()})
