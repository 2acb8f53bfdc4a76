"""Gradient through time: the norm of ∂loss/∂h_t at every step t, caught by hooks on the hidden states.

A fused cell (nn.LSTM …) keeps its hidden states inside one kernel, out of autograd's reach.
`StepwiseProbe` stands in for a model's cell (its `rnn` attribute) and runs the same cell one
step at a time, so that each h_t is a tensor of the graph that the next step reads; a hook on it
receives the whole gradient that reaches h_t — from the output at t and through every later step.
For an LSTM that is ∂loss/∂h_t with the cell state c_t held as its own path (the usual reading of
"gradient through time"). The registry's conformance test guarantees that one step at a time gives
the same numbers as one pass, so the model computes exactly what it computes in training.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from recipes.cells.registry import State


def hidden_of(state: State) -> Tensor:
    """The hidden part h [L, B, H] of a cell's state (an LSTM's first tensor, h; else the state itself)."""
    return state[0] if isinstance(state, tuple) else state


class StepwiseProbe(nn.Module):
    """A unidirectional cell run one step at a time; `grads[t]` is ∂loss/∂h_t of the top layer, [B, H]."""

    def __init__(self, cell: nn.Module) -> None:
        super().__init__()
        if cell.num_directions != 1:
            raise ValueError("gradient through time is measured on unidirectional cells")
        self.cell = cell
        self.grads: dict[int, Tensor] = {}
        self.steps = 0

    def _catch(self, step: int) -> Callable[[Tensor], None]:
        def hook(grad: Tensor) -> None:
            self.grads[step] = grad[-1].detach()  # [B, H], the top layer
        return hook

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        """As the cell: x [B, T, in] → outputs [B, T, H] (zeros past each end), the state at each row's end."""
        batch, steps = x.shape[:2]
        state = self.cell.zero_state(batch, x.device) if state is None else state
        outputs = []
        for t in range(steps):
            _, new = self.cell(x[:, t : t + 1], None, state)
            if lengths is not None:  # a row past its end keeps its state
                alive = (t < lengths.to(x.device))[None, :, None]  # [1, B, 1]
                new = tuple(torch.where(alive, n, o) for n, o in zip(new, state)) if isinstance(new, tuple) \
                    else torch.where(alive, new, state)
            h = hidden_of(new)  # [L, B, H]: what step t + 1 reads
            if h.requires_grad:
                h.register_hook(self._catch(t))
            outputs.append(h[-1])
            state = new
        out = torch.stack(outputs, dim=1)  # [B, T, H]
        if lengths is not None:
            out = out * (torch.arange(steps, device=x.device)[None, :] < lengths.to(x.device)[:, None])[..., None]
        self.steps = steps
        return out, state

    def final_hidden(self, state: State) -> Tensor:
        """The cell's own reading of the final state."""
        return self.cell.final_hidden(state)


@contextmanager
def probed(model: nn.Module) -> Iterator[StepwiseProbe]:
    """`model.rnn` replaced by a `StepwiseProbe` of itself for the duration of the block."""
    cell = model.rnn
    probe = StepwiseProbe(cell)
    model.rnn = probe
    try:
        yield probe
    finally:
        model.rnn = cell


def gradient_norms(model: nn.Module, summed_loss: Callable[[nn.Module], tuple[Tensor, Tensor]]
                   ) -> tuple[Tensor, Tensor]:
    """‖∂loss_row/∂h_t‖ for every step t and row, [T, B] (NaN past each row's end), and the lengths [B].

    `summed_loss(model)` returns (the sum of the rows' losses, each row's length [B]); summing makes the
    gradient at a row's h_t its own loss's, since rows do not interact. Dropout is off (eval mode).
    """
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), probed(model) as probe:
            model.zero_grad(set_to_none=True)
            loss, lengths = summed_loss(model)
            loss.backward()
    finally:
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    lengths = lengths.cpu()
    norms = torch.full((probe.steps, len(lengths)), float("nan"))
    for t in range(probe.steps):
        grad = probe.grads.get(t)  # None: nothing after h_t reached the loss
        row_norms = grad.norm(dim=-1).cpu() if grad is not None else torch.zeros(len(lengths))  # [B]
        norms[t] = torch.where(lengths > t, row_norms, torch.tensor(float("nan")))
    return norms, lengths


def summarize_norms(norms: Tensor, lengths: Tensor) -> dict[str, object]:
    """From `gradient_norms` [T, B]: the mean norm by steps before each row's last step (0 = the last),
    and at each row's first and last step."""
    lengths = lengths.cpu()
    rows = torch.arange(norms.size(1))
    by_distance = []
    for back in range(int(lengths.max())):
        alive = lengths > back
        by_distance.append(float(norms[(lengths - 1 - back)[alive], rows[alive]].mean()))
    return {"by_steps_before_end": by_distance, "first_step": float(norms[0].mean()),
            "last_step": float(norms[lengths - 1, rows].mean()), "rows": len(lengths)}


def through_time(model: nn.Module, task, rows: int) -> dict[str, object]:
    """The gradient summary of `model` on the task's fixed validation batch (`task.gradient_loss`)."""
    return summarize_norms(*gradient_norms(model, lambda m: task.gradient_loss(m, rows)))
