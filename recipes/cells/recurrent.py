"""Base classes for cells: the opaque-state helpers every cell shares, and the packed-batch wrapper
around PyTorch's fused nn.RNN / nn.GRU / nn.LSTM."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from recipes.cells.registry import State


class Recurrent(nn.Module):
    """A batch-first stack of one cell: sizes and the state helpers of the `Cell` protocol.

    Subclasses set `gated` and `state_tensors` and implement `forward`; a state is h [L*D, B, H],
    or a tuple of `state_tensors` such tensors (h first)."""

    name = "?"  # set by @register
    family = "custom"
    gated = False
    gates = 1
    state_tensors = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_directions = 2 if bidirectional else 1
        self.output_size = hidden_size * self.num_directions

    def final_hidden(self, state: State) -> Tensor:
        """The last layer's final hidden state, directions concatenated: [B, H*D]."""
        h = state[0] if isinstance(state, tuple) else state  # [L*D, B, H]
        last = h[-self.num_directions :]  # [D, B, H]
        return torch.cat(list(last), dim=-1)

    def state_from_hidden(self, h0: Tensor) -> State:
        """An initial state from hidden tensors h0 [L*D, B, H]; further state tensors (an LSTM's c0) are zero."""
        if self.state_tensors == 1:
            return h0
        return (h0, *(torch.zeros_like(h0) for _ in range(self.state_tensors - 1)))

    def state_from_vector(self, vector: Tensor) -> State:
        """A full initial state from one vector per row: [B, state_tensors * L * H] (e.g. a projected image)
        → each state tensor [L, B, H]. Unidirectional stacks only."""
        parts = vector.view(vector.size(0), self.state_tensors, self.num_layers, self.hidden_size)
        tensors = [parts[:, i].transpose(0, 1).contiguous() for i in range(self.state_tensors)]  # [L, B, H] each
        return tuple(tensors) if self.state_tensors > 1 else tensors[0]

    def zero_state(self, batch_size: int, device: torch.device | str) -> State:
        """An all-zero initial state for `batch_size` rows."""
        h0 = torch.zeros(self.num_layers * self.num_directions, batch_size, self.hidden_size, device=device)
        return self.state_from_hidden(h0)


class TorchRecurrent(Recurrent):
    """A cell backed by one of PyTorch's fused modules (`torch_class`): multi-layer, optionally
    bidirectional; batches with `lengths` are packed, so padding never enters the cell."""

    torch_class: type[nn.RNNBase] = nn.RNN
    family = "fused"
    gates = 1  # weight blocks per layer and direction (RNN 1, GRU 3, LSTM 4)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__(input_size, hidden_size, num_layers, bidirectional, dropout)
        self.rnn = self.torch_class(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                                    bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None
                ) -> tuple[Tensor, State]:
        """Run over `x` [B, T, in]; return outputs [B, T, H*D] and the final state.

        With `lengths` [B] the batch is packed; positions past a sequence's end come out as zeros.
        A batch whose sequences all have length T runs unpacked (faster)."""
        if lengths is None or bool((lengths == x.size(1)).all()):
            return self.rnn(x, state)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return out, state

    @classmethod
    def parameter_count(cls, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool) -> int:
        """gates · H · (in + H + 2 biases) per layer and direction; layers above the first read H · D."""
        directions = 2 if bidirectional else 1
        per_layer = [input_size] + [hidden_size * directions] * (num_layers - 1)
        return sum(cls.gates * hidden_size * (n + hidden_size + 2) * directions for n in per_layer)
