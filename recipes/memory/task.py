"""The memory model and its task for the engine: training, scoring at every test length, samples, predict."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from recipes.cells import build_cell
from recipes.kit.batching import random_batches
from recipes.kit.contract import Step
from recipes.kit.errors import UserError
from recipes.kit.splits import load_prepared
from recipes.memory.data import NOISE, QUERY, SPECIAL, TOLERANCE


class MemoryModel(nn.Module):
    """(value, marker) pairs or token embeddings → cell → the sum from the final state (adding), or a token
    at each of the last `copies` steps (selective_copy)."""

    def __init__(self, cell: str, task: str, vocab_size: int, embed_dim: int, hidden_size: int, num_layers: int,
                 dropout: float, copies: int = 0) -> None:
        super().__init__()
        self.task, self.copies = task, copies
        self.embed = nn.Embedding(vocab_size, embed_dim) if task == "selective_copy" else None
        self.rnn = build_cell(cell, embed_dim if self.embed is not None else 2, hidden_size, num_layers, False,
                              dropout)
        self.out = nn.Linear(hidden_size, vocab_size if self.embed is not None else 1)

    def forward(self, inputs: Tensor) -> Tensor:
        """adding: inputs [B, T, 2] → sums [B]; selective_copy: ids [B, T + K] → logits [B, K, V]."""
        if self.embed is None:
            _, state = self.rnn(inputs)
            return self.out(self.rnn.final_hidden(state)).squeeze(-1)
        outputs, _ = self.rnn(self.embed(inputs))  # [B, T + K, H]
        return self.out(outputs[:, -self.copies:])


def build_model(section: dict, meta: dict, cell: str, hidden_size: int) -> nn.Module:
    """The memory model for `cell` at `hidden_size`."""
    m = section["model"]
    return MemoryModel(cell, meta["task"], max(meta["vocab_size"], 1), m["embed_dim"], hidden_size,
                       m["num_layers"], m["dropout"], meta["copy_tokens"] or 0)


class MemoryTask:
    """Generated sequences, their loss and metrics (at the training length and every test length)."""

    def __init__(self, section: dict, data_dir: Path, device: torch.device) -> None:
        self.splits, self.itos, self.meta = load_prepared(data_dir)
        self.section, self.cfg, self.device = section, section["train"], device
        self.adding = self.meta["task"] == "adding"

    def train_batches(self, generator: torch.Generator) -> list[Tensor]:
        """Example indices in a seeded random order."""
        return random_batches(len(self.splits["train"]["targets"]), self.cfg["batch_size"], generator)

    def loss(self, model: nn.Module, split: dict, index: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(mean loss, outputs, targets) of rows `index`: squared error (adding) or cross-entropy per token."""
        inputs, targets = split["inputs"][index].to(self.device), split["targets"][index].to(self.device)
        outputs = model(inputs)
        if self.adding:
            return nn.functional.mse_loss(outputs, targets), outputs, targets
        return nn.functional.cross_entropy(outputs.flatten(0, 1), targets.flatten()), outputs, targets

    def step(self, model: nn.Module, index: Tensor) -> Step:
        """The loss of one batch of training sequences."""
        loss, _, targets = self.loss(model, self.splits["train"], index)
        return Step(loss, len(index), targets.numel())

    def gradient_loss(self, model: nn.Module, rows: int) -> tuple[Tensor, Tensor]:
        """The summed loss of the first `rows` validation sequences and their lengths (all the same), for
        the gradient through time (stages/evaluate.py)."""
        index = torch.arange(min(rows, len(self.splits["valid"]["targets"])))
        loss, _, _ = self.loss(model, self.splits["valid"], index)
        steps = self.splits["valid"]["inputs"].size(1)
        return loss * len(index), torch.full((len(index),), steps)

    def score(self, model: nn.Module, split: dict) -> dict[str, float]:
        """adding: mse, accuracy (within TOLERANCE) and loss; selective_copy: per-token and whole-sequence
        accuracy and loss."""
        loss_sum, right, whole, n = 0.0, 0.0, 0.0, len(split["targets"])
        for index in torch.arange(n).split(self.cfg["eval_batch_size"]):
            loss, outputs, targets = self.loss(model, split, index)
            loss_sum += float(loss) * len(index)
            if self.adding:
                right += float(((outputs - targets).abs() < TOLERANCE).sum())
            else:
                hits = outputs.argmax(-1) == targets  # [B, K]
                right += float(hits.float().mean(-1).sum())
                whole += float(hits.all(-1).sum())
        if self.adding:
            return {"mse": loss_sum / n, "accuracy": right / n, "loss": loss_sum / n}
        return {"accuracy": right / n, "sequence_accuracy": whole / n, "loss": loss_sum / n}

    def evaluate(self, model: nn.Module, split_name: str) -> dict[str, float]:
        """The split's metrics; for "test", also `accuracy@<length>` at every test length."""
        metrics = self.score(model, self.splits[split_name])
        if split_name == "test":
            for length in self.meta["test_lengths"]:
                other = "test" if length == self.meta["length"] else f"test@{length}"
                metrics[f"accuracy@{length}"] = (metrics if other == "test" else
                                                 self.score(model, self.splits[other]))["accuracy"]
        return metrics

    def samples(self, model: nn.Module, out_dir: Path) -> str:
        """A markdown table of the first test sequences: what mattered, the answer, the model's output."""
        split, n = self.splits["test"], self.section["evaluate"]["samples"]
        index = torch.arange(min(n, len(split["targets"])))
        _, outputs, targets = self.loss(model, split, index)
        lines = ["| what matters in the input | target | model |", "|---|---|---|"]
        for i, target, output in zip(index.tolist(), targets.tolist(), outputs.tolist()):
            if self.adding:
                inputs = split["inputs"][i]  # [T, 2]
                marked = [f"{v:.3f} at step {t}" for t, (v, m) in enumerate(inputs.tolist()) if m == 1.0]
                lines.append(f"| {' + '.join(marked)} | {target:.3f} | {output:.3f} |")
            else:
                said = [self.itos[max(range(len(row)), key=row.__getitem__)] for row in output]
                shown = [f"{self.itos[t]} at step {step}" for step, t in enumerate(split["inputs"][i].tolist())
                         if t not in (NOISE, QUERY)]
                lines.append(f"| {', '.join(shown)} | {' '.join(self.itos[t] for t in target)} | {' '.join(said)} |")
        return "\n".join(lines) + "\n"


def make_task(section: dict, data_dir: Path, device: torch.device) -> MemoryTask:
    """The engine's view of the generated sequences."""
    return MemoryTask(section, data_dir, device)


def parse_input(task: MemoryTask, line: str) -> Tensor:
    """One user sequence as the model's input: adding `0.2 *0.5 0.1 *0.3` (a star marks the two values to
    add); selective_copy `. . 3 . 1 .` (a dot is noise; the data tokens are what to copy)."""
    words = line.split()
    if task.adding:
        try:
            pairs = [(float(w.lstrip("*")), 1.0 if w.startswith("*") else 0.0) for w in words]
        except ValueError:
            raise UserError(f"adding input {line!r}: give numbers separated by spaces, two of them starred "
                            "(e.g. `0.2 *0.5 0.1 *0.3`)") from None
        if sum(m for _, m in pairs) != 2:
            raise UserError(f"adding input {line!r}: star exactly two numbers (e.g. `0.2 *0.5 0.1 *0.3`)")
        return torch.tensor([pairs])  # [1, T, 2]
    stoi = {name: i for i, name in enumerate(task.itos)}
    data = [w for w in words if w != "."]
    if len(data) != task.meta["copy_tokens"] or any(w not in stoi or w in SPECIAL for w in data):
        raise UserError(f"selective_copy input {line!r}: give exactly {task.meta['copy_tokens']} data tokens from "
                        f"{', '.join(task.itos[len(SPECIAL):])} among dots (noise), e.g. `. 3 . . 1`")
    ids = [NOISE if w == "." else stoi[w] for w in words] + [QUERY] * len(data)
    return torch.tensor([ids])  # [1, T + K]


@torch.no_grad()
def predict(task: MemoryTask, model: nn.Module, inputs: list[str]) -> list[str]:
    """The model's sum (adding) or the tokens it copies (selective_copy) for each input line."""
    answers = []
    for line in inputs:
        output = model(parse_input(task, line).to(task.device))[0]
        answers.append(f"{float(output):.3f}" if task.adding else
                       " ".join(task.itos[int(i)] for i in output.argmax(-1)))
    return answers
