"""The GRU (Cho et al. 2014): update and reset gates over one hidden state, PyTorch's nn.GRU."""

from torch import nn

from recipes.cells.recurrent import TorchRecurrent
from recipes.cells.registry import register


@register("gru")
class GRU(TorchRecurrent):
    """Gated, one state tensor."""

    torch_class = nn.GRU
    gates = 3
    gated = True
