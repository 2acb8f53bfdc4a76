"""The training engine shared by every recipe.

It owns seeding, the device, the optimiser, gradient clipping, early stopping
on the validation metric in its direction (keeping the best weights; a tie is
broken by the lower validation loss), the progress bar, the per-epoch log line
and history. A recipe hands it a `Task` (recipes/kit/contract.py).
"""

from __future__ import annotations

import copy
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from recipes.kit.contract import HIGHER, Task, better, worst
from recipes.kit.errors import UserError
from recipes.kit.params import Field

TRAIN_SCHEMA = {
    "epochs": Field(int, min=1),
    "batch_size": Field(int, min=1),
    "eval_batch_size": Field(int, min=1),
    "lr": Field(float, min=1e-7, max=10.0),
    "weight_decay": Field(float, min=0.0),
    "clip": Field(float, min=0.0),
    "patience": Field(int, min=1),
}


# Training has diverged when an epoch's mean loss exceeds this many times the loss of the untrained model.
DIVERGENCE_FACTOR = 10.0
DIVERGED_FIX = "lower train.lr or set train.clip (e.g. 1.0) in params.yaml"


class Diverged(UserError):
    """Training blew up (a non-finite or exploding loss, or the optimiser failing): the settings are hopeless."""


@dataclass
class FitResult:
    """The outcome of `fit`: best epoch, timing and the per-epoch history."""

    best_epoch: int
    epochs_run: int
    train_seconds: float
    examples_per_s: float
    tokens_per_s: float
    history: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator for batch order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("params.yaml: device is cuda but no GPU is visible; set device: auto or cpu")
    return torch.device(name)


THREADS_ENV = "RNN_RECIPES_THREADS"  # set by the parallel runner (stages/study/parallel.py): cores ÷ jobs


def set_threads(threads: int) -> None:
    """Use `threads` CPU threads (0 means one per core), at most RNN_RECIPES_THREADS when that is set.

    The environment variable, unlike the `threads` param, changes no stage's hash: the parallel
    runner caps each stage at cores ÷ jobs so that stages side by side never oversubscribe the cores.
    The thread count changes the low bits of sums, and so training runs: keep `threads: 1` (the
    default) for results that do not depend on how the study was run.
    """
    wanted = threads or os.cpu_count() or 1
    cap = int(os.environ.get(THREADS_ENV) or wanted)
    torch.set_num_threads(max(1, min(wanted, cap)))


def train_epoch(task: Task, model: nn.Module, opt: torch.optim.Optimizer, cfg: dict,
                batches: list[Any], epoch: int) -> tuple[float, int, int]:
    """One pass over `batches`: (mean loss per token, examples, tokens)."""
    model.train()
    total_loss = examples = tokens = 0
    for batch in tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=None):
        step, loss = train_step(task, model, opt, cfg, batch, epoch)
        total_loss += loss * step.tokens
        examples += step.examples
        tokens += step.tokens
    return total_loss / max(tokens, 1), examples, tokens


def train_step(task: Task, model: nn.Module, opt: torch.optim.Optimizer, cfg: dict, batch: Any,
               epoch: int = 0) -> tuple[Any, float]:
    """One optimiser step on one batch: the task's step output and its loss."""
    opt.zero_grad(set_to_none=True)
    step = task.step(model, batch)
    loss = step.loss.item()
    if not math.isfinite(loss):
        raise Diverged(f"training diverged: loss is {loss} in epoch {epoch}; {DIVERGED_FIX}")
    step.loss.backward()
    if cfg["clip"] > 0:
        nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
    optimizer_step(opt, cfg)
    return step, loss


def optimizer_step(opt: torch.optim.Optimizer, cfg: dict) -> None:
    """`opt.step()`, with the optimiser's own failures (an absurd lr overflowing) as a `UserError`."""
    try:
        opt.step()
    except (RuntimeError, ValueError, OverflowError) as err:
        raise Diverged(f"the optimiser failed ({type(err).__name__}: {str(err)[:120]}) with train.lr "
                        f"{cfg['lr']}; {DIVERGED_FIX}") from err


@torch.no_grad()
def initial_loss(task: Task, model: nn.Module, batch: Any) -> float:
    """The untrained model's loss on one batch: the yardstick for divergence.

    Runs on forked random states, so that measuring it changes no result.
    """
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        model.eval()
        return float(task.step(model, batch).loss)


def check_divergence(train_loss: float, reference: float, epoch: int) -> None:
    """Stop training whose mean loss has grown past `DIVERGENCE_FACTOR` × the untrained model's loss."""
    if train_loss > DIVERGENCE_FACTOR * reference:
        raise Diverged(f"training diverged: the mean train loss of epoch {epoch} is {train_loss:.4g}, over "
                        f"{DIVERGENCE_FACTOR:g}× the untrained model's {reference:.4g}; {DIVERGED_FIX}")


@torch.no_grad()
def evaluate(task: Task, model: nn.Module, split: str) -> dict[str, float]:
    """Evaluate without gradients, in eval mode."""
    model.eval()
    return task.evaluate(model, split)


def improved(score: float, loss: float, best: tuple[float, float], direction: str) -> bool:
    """Whether (score, loss) beats the best (score, loss) so far: a better score, or an equal one with lower loss."""
    best_score, best_loss = best
    return better(direction, score, best_score) or (score == best_score and loss < best_loss)


def make_optimizer(model: nn.Module, cfg: dict) -> torch.optim.Optimizer:
    """The one optimiser every run uses: Adam with the recipe's lr and weight decay."""
    return torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])


def fit(task: Task, model: nn.Module, cfg: dict, generator: torch.Generator, metric: str,
        direction: str = HIGHER, log=print, on_epoch: Callable[[int, float], None] | None = None) -> FitResult:
    """Train with early stopping on validation `metric`; leave the best weights in `model`.

    `on_epoch(epoch, score)` sees each epoch's validation score; it may raise to stop training
    (the tuner prunes hopeless trials that way).
    """
    opt = make_optimizer(model, cfg)
    best, best_epoch, best_state = (worst(direction), math.inf), 0, copy.deepcopy(model.state_dict())
    history, seconds, examples, tokens, reference = [], 0.0, 0, 0, math.inf
    for epoch in range(1, cfg["epochs"] + 1):
        start = time.perf_counter()
        batches = task.train_batches(generator)
        if epoch == 1:
            reference = initial_loss(task, model, batches[0])
        train_loss, n_examples, n_tokens = train_epoch(task, model, opt, cfg, batches, epoch)
        check_divergence(train_loss, reference, epoch)
        took = time.perf_counter() - start
        seconds, examples, tokens = seconds + took, examples + n_examples, tokens + n_tokens
        valid = evaluate(task, model, "valid")
        score = valid[metric]
        history.append({"epoch": epoch, "train_loss": train_loss, "valid_loss": valid["loss"],
                        "valid_metric": score, "seconds": took, "examples_per_s": n_examples / took})
        log(f"epoch {epoch:3d}  train_loss {train_loss:.4f}  valid_loss {valid['loss']:.4f}  "
            f"valid_{metric} {score:.4f}  {took:.1f}s  {n_examples / took:.0f} ex/s")
        if on_epoch is not None:
            on_epoch(epoch, score)
        if improved(score, valid["loss"], best, direction):
            best, best_epoch, best_state = (score, valid["loss"]), epoch, copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= cfg["patience"]:
            log(f"early stop: no better valid_{metric} for {cfg['patience']} epochs")
            break
    model.load_state_dict(best_state)
    return FitResult(best_epoch, len(history), seconds, examples / seconds, tokens / seconds, history)
