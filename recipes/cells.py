"""The cell factory: the one place that knows nn.RNN, nn.GRU and nn.LSTM apart.

Recipes build a `Recurrent` from a cell name and treat its state as opaque:
`final_hidden`, `state_from_hidden` and `map_state` hide that an LSTM state
is a pair `(h, c)` while the other cells carry a single tensor.
"""

from __future__ import annotations

from typing import Callable, Union

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from recipes.batching import real_positions
from recipes.params import Field

State = Union[Tensor, tuple[Tensor, Tensor]]

CELL_CLASSES: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}

# The `model` params every recipe shares: sizes of an embedding + recurrent stack.
MODEL_SCHEMA = {
    "embed_dim": Field(int, min=1),
    "hidden_size": Field(int, min=1),
    "num_layers": Field(int, min=1),
    "bidirectional": Field(bool),
    "dropout": Field(float, min=0.0, max=0.9),
}


class Recurrent(nn.Module):
    """A (multi-layer, optionally bidirectional) RNN, GRU or LSTM, batch-first."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if cell not in CELL_CLASSES:
            raise ValueError(f"unknown cell {cell!r}; choose from {', '.join(CELL_CLASSES)}")
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_directions = 2 if bidirectional else 1
        self.output_size = hidden_size * self.num_directions
        self.rnn = CELL_CLASSES[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        if cell == "lstm":
            self._set_forget_bias(1.0)

    def _set_forget_bias(self, value: float) -> None:
        # A forget-gate bias of 1 (Jozefowicz et al. 2015); gates are ordered i, f, g, o.
        h = self.hidden_size
        for name, param in self.rnn.named_parameters():
            if name.startswith("bias_ih"):
                with torch.no_grad():
                    param[h : 2 * h].fill_(value)

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, state: State | None = None
    ) -> tuple[Tensor, State]:
        """Run over `x` [B, T, in]; return outputs [B, T, H*D] and the final state.

        With `lengths` [B] (CPU int64) the batch is packed, so padding never
        enters the cell; positions past a sequence's end come out as zeros.
        A batch whose sequences all have length T runs unpacked (faster).
        """
        if lengths is None or bool((lengths == x.size(1)).all()):
            return self.rnn(x, state)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return out, state

    def final_hidden(self, state: State) -> Tensor:
        """The last layer's final hidden state, directions concatenated: [B, H*D]."""
        h = state[0] if isinstance(state, tuple) else state  # [L*D, B, H]
        last = h[-self.num_directions :]  # [D, B, H]
        return torch.cat(list(last), dim=-1)

    @property
    def state_tensors(self) -> int:
        """How many tensors make up the state: 2 for an LSTM (h, c), else 1."""
        return 2 if self.cell == "lstm" else 1

    def state_from_vector(self, vector: Tensor) -> State:
        """Build a full initial state from one vector per sequence.

        vector [B, state_tensors * L * H] (e.g. a projected image) → h0 (and c0)
        of shape [L, B, H]. Unidirectional stacks only.
        """
        parts = vector.view(vector.size(0), self.state_tensors, self.num_layers, self.hidden_size)
        tensors = [parts[:, i].transpose(0, 1).contiguous() for i in range(self.state_tensors)]  # [L, B, H] each
        return tuple(tensors) if self.state_tensors == 2 else tensors[0]  # type: ignore[return-value]

    def state_from_hidden(self, h0: Tensor) -> State:
        """Build an initial state from hidden tensors h0 [L*D, B, H] (LSTM: c0 = 0)."""
        if self.cell == "lstm":
            return (h0, torch.zeros_like(h0))
        return h0

    def zero_state(self, batch_size: int, device: torch.device | str) -> State:
        """An all-zero initial state for `batch_size` sequences."""
        h0 = torch.zeros(self.num_layers * self.num_directions, batch_size, self.hidden_size, device=device)
        return self.state_from_hidden(h0)


def reverse_within_length(x: Tensor, lengths: Tensor) -> Tensor:
    """Each sequence of x [B, T, F] in reverse order within its own length; padding stays where it is."""
    steps = torch.arange(x.size(1), device=x.device)[None, :]  # [1, T]
    ends = lengths.to(x.device)[:, None]  # [B, 1]
    index = torch.where(steps < ends, ends - 1 - steps, steps)  # [B, T]: its own inverse
    return x.gather(1, index[:, :, None].expand_as(x))


class UnpackedRecurrent(nn.Module):
    """Layers of a cell over padded batches, outputs only, without packing: the same numbers as a packed
    `Recurrent`, faster on long batches on CPU (PyTorch's packed path slices the input per step and
    zero-fills a full-size gradient for every slice: at 60 steps it took 2.8× as long here, at 10 as long).

    A forward direction cannot see the padding after a sequence's end; the backward direction runs
    forward over each sequence reversed within its length. So each direction and layer is its own
    one-layer `Recurrent` (same parameter count as one bidirectional stack).
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_directions = 2 if bidirectional else 1
        self.hidden_size = hidden_size
        self.output_size = hidden_size * self.num_directions
        self.layers = nn.ModuleList(
            nn.ModuleList(Recurrent(cell, input_size if layer == 0 else self.output_size, hidden_size)
                          for _ in range(self.num_directions))
            for layer in range(num_layers))
        self.drop = nn.Dropout(dropout if num_layers > 1 else 0.0)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """x [B, T, in], lengths [B] → outputs [B, T, H*D], zeros past each sequence's end."""
        for depth, directions in enumerate(self.layers):
            if depth > 0:
                x = self.drop(x)
            forward, _ = directions[0](x)  # [B, T, H]
            outputs = [forward]
            if self.num_directions == 2:
                backward, _ = directions[1](reverse_within_length(x, lengths))
                outputs.append(reverse_within_length(backward, lengths))
            x = torch.cat(outputs, dim=-1)  # [B, T, H*D]
        return x * real_positions(lengths, x.size(1), x.device)[:, :, None]

    def final_hidden(self, outputs: Tensor, lengths: Tensor) -> Tensor:
        """The last layer's final hidden states, directions concatenated, from `forward`'s outputs: [B, H*D]
        (forward: the output at each sequence's last step; backward: at its first)."""
        last = (lengths.to(outputs.device) - 1)[:, None, None].expand(-1, 1, self.hidden_size)  # [B, 1, H]
        finals = [outputs[:, :, : self.hidden_size].gather(1, last)[:, 0]]  # [B, H]
        if self.num_directions == 2:
            finals.append(outputs[:, 0, self.hidden_size :])
        return torch.cat(finals, dim=-1)


def map_state(state: State, fn: Callable[[Tensor], Tensor]) -> State:
    """Apply `fn` to every tensor of a state (h, or h and c of an LSTM)."""
    if isinstance(state, tuple):
        return tuple(fn(s) for s in state)  # type: ignore[return-value]
    return fn(state)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
