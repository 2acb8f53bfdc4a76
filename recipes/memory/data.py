"""The memory tasks' data: generated from a seed, each split and test length from a seed of its own.

adding (Hochreiter & Schmidhuber 1997; as in Le et al. 2015 and Arjovsky et al. 2016): T steps of
(value, marker), values uniform in [0, 1), exactly two markers — one in each half of the sequence —
and the target is the sum of the two marked values.

selective_copy (Gu & Dao 2023, Mamba): K data tokens at random positions among T noise tokens, then K
query tokens; at the K query steps the model outputs the data tokens in their order.
"""

from __future__ import annotations

import torch
from torch import Tensor

NOISE, QUERY = 0, 1  # selective_copy's token ids; data token i is id i + 2
SPECIAL = ["<noise>", "<query>"]
TOLERANCE = 0.04  # adding: an answer within this of the target counts as right (Hochreiter & Schmidhuber)
SPLIT_OFFSETS = {"train": 0, "valid": 1, "test": 2}  # a test set at another length gets 3, 4, …
SEEDS_PER_RUN = 1000


def split_seed(seed: int, offset: int) -> int:
    """The generator seed of one split: different for every (seed, split) pair with offset < 1000."""
    return seed * SEEDS_PER_RUN + offset


def adding(n: int, length: int, seed: int) -> dict[str, Tensor]:
    """n adding-problem sequences: inputs [n, T, 2] (value, marker), targets [n] (the marked values' sum)."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.rand(n, length, generator=generator)  # [n, T]
    half = length // 2
    first = torch.randint(0, half, (n,), generator=generator)  # [n]
    second = torch.randint(half, length, (n,), generator=generator)  # [n]
    markers = torch.zeros(n, length)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]
    return {"inputs": torch.stack([values, markers], dim=-1), "targets": targets}


def selective_copy(n: int, length: int, copies: int, vocab: int, seed: int) -> dict[str, Tensor]:
    """n selective-copy sequences: inputs [n, T + K] token ids, targets [n, K] (the data tokens in order)."""
    generator = torch.Generator().manual_seed(seed)
    positions = torch.rand(n, length, generator=generator).argsort(dim=1)[:, :copies].sort(dim=1).values  # [n, K]
    tokens = torch.randint(0, vocab, (n, copies), generator=generator) + len(SPECIAL)  # [n, K]
    inputs = torch.full((n, length + copies), NOISE, dtype=torch.long)
    inputs.scatter_(1, positions, tokens)
    inputs[:, length:] = QUERY
    return {"inputs": inputs, "targets": tokens}


def generate(source: dict, n: int, length: int, seed: int) -> dict[str, Tensor]:
    """n examples of the source's task at `length`, from `seed`."""
    if source["task"] == "adding":
        return adding(n, length, seed)
    return selective_copy(n, length, source["copy_tokens"], source["vocab_size"], seed)


def scored_lengths(length: int, multiples: list[float]) -> list[int]:
    """The input lengths the test split is also scored at: each multiple of the training length (at least 2)."""
    return sorted({max(2, round(length * m)) for m in multiples})


def vocabulary(source: dict) -> list[str]:
    """Token names: selective_copy's noise and query tokens then its data tokens; adding reads numbers."""
    if source["task"] == "adding":
        return []
    return SPECIAL + [str(i) for i in range(source["vocab_size"])]


def baseline(source: dict, targets: Tensor) -> dict[str, float]:
    """The score to beat on the test targets: adding always answers 1.0 (the mean sum); selective_copy
    guesses a data token uniformly (chance)."""
    if source["task"] == "adding":
        error = targets - 1.0
        return {"name": "always 1.0", "mse": float((error ** 2).mean()),
                "accuracy": float((error.abs() < TOLERANCE).float().mean())}
    chance = 1.0 / source["vocab_size"]
    return {"name": "chance (a uniform guess per token)", "accuracy": chance,
            "sequence_accuracy": chance ** source["copy_tokens"]}
