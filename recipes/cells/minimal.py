"""The minimal recurrent cells of Feng et al. 2024 ("Were RNNs all we needed?", arXiv 2410.01201):
gates that read only the input, so the recurrence h_t = a_t ⊙ h_{t-1} + b_t is linear in h and a
whole sequence is one parallel scan. Training runs the scan in log space (Heinsen 2023, as in the
paper's appendix); a single step (decoding) runs the sequential form, which gives the same numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recipes.cells.recurrent import Recurrent
from recipes.cells.registry import State
from recipes.cells.unpacked import reverse_within_length
from recipes.kit.batching import real_positions


def log_g(x: Tensor) -> Tensor:
    """log of the paper's positive activation g(x) = x + ½ for x ≥ 0, sigmoid(x) below."""
    return torch.where(x >= 0, (F.relu(x) + 0.5).log(), -F.softplus(-x))


def parallel_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """All h_t of h_t = a_t h_{t-1} + b_t at once: log_a, log_b [B, T, H] (a ∈ (0, 1], b ≥ 0), h0 [B, H]
    of any sign → [B, T, H]. With A_t = Σ_{k≤t} log a_k: h_t = e^{A_t} (h0 + Σ_{k≤t} e^{log b_k − A_k})."""
    a_star = log_a.cumsum(dim=1)  # [B, T, H]
    inputs = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))
    return inputs + torch.exp(a_star) * h0[:, None]


def sequential_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """The same recurrence one step at a time (what decoding does): [B, T, H]."""
    a, b, h, hs = log_a.exp(), log_b.exp(), h0, []
    for t in range(log_a.size(1)):
        h = a[:, t] * h + b[:, t]  # [B, H]
        hs.append(h)
    return torch.stack(hs, dim=1)


class MinimalRecurrent(Recurrent):
    """A stack of minimal cells: per layer and direction one input projection to `gates` blocks of H,
    turned into (log a, log b) by `log_coefficients`. State: h [L*D, B, H]."""

    family = "minimal"
    gates = 2
    gated = True

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__(input_size, hidden_size, num_layers, bidirectional, dropout)
        self.layers = nn.ModuleList(
            nn.ModuleList(nn.Linear(input_size if layer == 0 else self.output_size, self.gates * hidden_size)
                          for _ in range(self.num_directions))
            for layer in range(num_layers))
        self.drop = nn.Dropout(dropout if num_layers > 1 else 0.0)

    def log_coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:
        """projected [B, T, gates*H] → (log a_t, log b_t), each [B, T, H]."""
        raise NotImplementedError

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None
                ) -> tuple[Tensor, State]:
        """x [B, T, in] → outputs [B, T, H*D] (zeros past each end) and h after each row's last step."""
        batch, steps = x.shape[:2]
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long)
        pad = ~real_positions(lengths, steps, x.device)[:, :, None]  # [B, T, 1]
        h0 = state if state is not None else self.zero_state(batch, x.device)  # [L*D, B, H]
        last = (lengths.to(x.device) - 1)[:, None, None].expand(-1, 1, self.hidden_size)  # [B, 1, H]
        finals = []
        for depth, directions in enumerate(self.layers):
            x = self.drop(x) if depth > 0 else x
            outputs = []
            for direction, project in enumerate(directions):
                seq = reverse_within_length(x, lengths) if direction else x
                log_a, log_b = self.log_coefficients(project(seq))
                log_a = log_a.masked_fill(pad, 0.0)  # padding keeps h as it is
                log_b = log_b.masked_fill(pad, float("-inf"))
                scan = parallel_scan if steps > 1 else sequential_scan
                h = scan(log_a, log_b, h0[depth * self.num_directions + direction])  # [B, T, H]
                finals.append(h.gather(1, last)[:, 0])  # [B, H]
                outputs.append(reverse_within_length(h, lengths) if direction else h)
            x = torch.cat(outputs, dim=-1).masked_fill(pad, 0.0)  # [B, T, H*D]
        return x, torch.stack(finals)  # [L*D, B, H]

    @classmethod
    def parameter_count(cls, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool) -> int:
        """gates · H · (in + 1) per layer and direction; layers above the first read H · D."""
        directions = 2 if bidirectional else 1
        per_layer = [input_size] + [hidden_size * directions] * (num_layers - 1)
        return sum(cls.gates * hidden_size * (n + 1) * directions for n in per_layer)
