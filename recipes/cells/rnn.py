"""The vanilla (Elman) RNN: h_t = tanh(W x_t + U h_{t-1} + b), PyTorch's nn.RNN."""

from torch import nn

from recipes.cells.recurrent import TorchRecurrent
from recipes.cells.registry import register


@register("rnn")
class RNN(TorchRecurrent):
    """No gates: the plain cell every gated one is compared against."""

    torch_class = nn.RNN
    gates = 1
    gated = False
