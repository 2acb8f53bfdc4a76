"""minLSTM (Feng et al. 2024): forget and input gates from the input alone, normalised to sum to one,
h_t = f'_t h_{t-1} + i'_t h̃_t (no cell state, no output gate)."""

import torch.nn.functional as F
from torch import Tensor

from recipes.cells.minimal import MinimalRecurrent, log_g
from recipes.cells.registry import register


@register("minlstm")
class MinLSTM(MinimalRecurrent):
    """Forget gate, input gate and candidate: 3 · H · (in + 1) parameters a layer."""

    gates = 3

    def log_coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:
        """(log f', log i' + log h̃) with f' = f / (f + i), i' = i / (f + i), each [B, T, H]."""
        f, i, candidate = projected.chunk(3, dim=-1)
        diff = F.softplus(-f) - F.softplus(-i)  # log(i / f)
        return -F.softplus(diff), -F.softplus(-diff) + log_g(candidate)
