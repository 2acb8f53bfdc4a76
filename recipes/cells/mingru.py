"""minGRU (Feng et al. 2024): z_t = σ(W_z x_t), h̃_t = g(W_h x_t), h_t = (1 − z_t) h_{t-1} + z_t h̃_t."""

import torch.nn.functional as F
from torch import Tensor

from recipes.cells.minimal import MinimalRecurrent, log_g
from recipes.cells.registry import register


@register("mingru")
class MinGRU(MinimalRecurrent):
    """An update gate and a candidate, both from the input alone: 2 · H · (in + 1) parameters a layer."""

    gates = 2

    def log_coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:
        """(log(1 − z), log z + log h̃), each [B, T, H]."""
        k, candidate = projected.chunk(2, dim=-1)
        return -F.softplus(k), -F.softplus(-k) + log_g(candidate)
