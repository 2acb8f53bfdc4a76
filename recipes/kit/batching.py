"""Length-bucketed batches over sequences stored as one padded tensor."""

from __future__ import annotations

import torch
from torch import Tensor


def real_positions(lengths: Tensor, width: int, device: torch.device | None = None) -> Tensor:
    """Boolean mask [B, width] of the non-padding positions of sequences with `lengths` [B]."""
    return torch.arange(width, device=device)[None, :] < lengths.to(device)[:, None]


def bucket_batches(lengths: Tensor, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    """Index batches of equal or similar length, in a seeded random order.

    Shuffle, then stable-sort by length (so ties stay shuffled), cut into
    batches of `batch_size`, and shuffle the batches. Every index appears in
    exactly one batch; the result depends only on `lengths` and the generator.
    """
    perm = torch.randperm(len(lengths), generator=generator)
    by_length = perm[torch.argsort(lengths[perm], stable=True)]
    batches = list(by_length.split(batch_size))
    order = torch.randperm(len(batches), generator=generator)
    return [batches[i] for i in order]


def sorted_batches(lengths: Tensor, batch_size: int) -> list[Tensor]:
    """Index batches sorted by length, for evaluation (no randomness)."""
    return list(torch.argsort(lengths, stable=True).split(batch_size))


def random_batches(n: int, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    """Index batches of a seeded random permutation, for fixed-size inputs."""
    return list(torch.randperm(n, generator=generator).split(batch_size))


def trim(tokens: Tensor, lengths: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
    """Rows `index` of a padded [N, T] tensor, cut to the batch's longest row."""
    batch_lengths = lengths[index]
    return tokens[index, : int(batch_lengths.max())], batch_lengths


def padding_waste(lengths: Tensor, batches: list[Tensor]) -> float:
    """Share of processed positions that are padding: padded / (batch × max length)."""
    processed = sum(len(b) * int(lengths[b].max()) for b in batches)
    real = int(lengths.sum())
    return 1.0 - real / processed if processed else 0.0
