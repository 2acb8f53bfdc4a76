"""The LSTM (Hochreiter & Schmidhuber 1997): input, forget and output gates over a cell state, nn.LSTM."""

import torch
from torch import nn

from recipes.cells.recurrent import TorchRecurrent
from recipes.cells.registry import register


@register("lstm")
class LSTM(TorchRecurrent):
    """Gated; its state is the pair (h, c), each [L*D, B, H]."""

    torch_class = nn.LSTM
    gates = 4
    gated = True
    state_tensors = 2

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__(input_size, hidden_size, num_layers, bidirectional, dropout)
        self._set_forget_bias(1.0)

    def _set_forget_bias(self, value: float) -> None:
        # A forget-gate bias of 1 (Jozefowicz et al. 2015); gates are ordered i, f, g, o.
        h = self.hidden_size
        for name, param in self.rnn.named_parameters():
            if name.startswith("bias_ih"):
                with torch.no_grad():
                    param[h : 2 * h].fill_(value)
