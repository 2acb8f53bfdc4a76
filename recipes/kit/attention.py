"""Additive attention (Bahdanau et al. 2015), shared by the decoders that look back at a memory:
translation over the source words, captioning over the image's regions (Xu et al. 2015).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class AdditiveAttention(nn.Module):
    """score(q, k) = v · tanh(W q + U k), masked softmax over the memory."""

    def __init__(self, query_size: int, key_size: int, attn_size: int) -> None:
        super().__init__()
        self.query, self.key = nn.Linear(query_size, attn_size), nn.Linear(key_size, attn_size, bias=False)
        self.v = nn.Linear(attn_size, 1, bias=False)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor) -> Tensor:
        """query [B, T, Q], keys [B, S, K], mask [B, S] → context [B, T, K]."""
        scores = self.v(torch.tanh(self.query(query)[:, :, None] + self.key(keys)[:, None])).squeeze(-1)  # [B, T, S]
        weights = scores.masked_fill(~mask[:, None], float("-inf")).softmax(-1)
        return weights @ keys
