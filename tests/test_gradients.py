"""Gradient through time (recipes/kit/gradients.py) against a closed form, and on registered cells."""

import pytest
import torch
from torch import nn

from recipes.cells import build_cell, cell_names
from recipes.kit.gradients import StepwiseProbe, gradient_norms, summarize_norms

W = torch.tensor([[0.9, 0.3], [-0.2, 0.5]])
V = torch.tensor([1.0, -2.0])


class LinearCell(nn.Module):
    """h_t = W h_{t-1} + x_t: a linear RNN with a hand-set recurrent matrix, in the registry's interface."""

    num_directions = 1

    def forward(self, x, lengths=None, state=None):
        h = state[-1] @ W.T + x[:, 0]  # [B, H]
        return h[:, None], h[None]  # outputs [B, 1, H], state [1, B, H]

    def zero_state(self, batch_size, device):
        return torch.zeros(1, batch_size, 2, device=device)

    def final_hidden(self, state):
        return state[-1]


class ReadOut(nn.Module):
    """loss = v · h_T per row: ∂loss/∂h_t = (Wᵀ)^(T-1-t) v."""

    def __init__(self):
        super().__init__()
        self.rnn = LinearCell()

    def forward(self, x, lengths=None):
        _, state = self.rnn(x, lengths)
        return self.rnn.final_hidden(state) @ V  # [B]


def test_the_norms_match_the_closed_form_of_a_linear_rnn():
    steps, x = 6, torch.randn(3, 6, 2, generator=torch.Generator().manual_seed(0), requires_grad=True)
    model = ReadOut()
    norms, lengths = gradient_norms(model, lambda m: (m(x).sum(), torch.full((3,), steps)))
    for t in range(steps):
        expected = torch.linalg.matrix_power(W.T, steps - 1 - t) @ V
        assert torch.allclose(norms[t], expected.norm().expand(3), atol=1e-5), t
    summary = summarize_norms(norms, lengths)
    assert summary["by_steps_before_end"][0] == pytest.approx(float(V.norm()), abs=1e-5)
    assert summary["first_step"] == pytest.approx(float(norms[0, 0]), abs=1e-6)
    assert isinstance(model.rnn, LinearCell)  # the probe is taken out again


def test_rows_of_different_lengths_are_measured_up_to_their_own_end():
    x = torch.randn(2, 5, 2, generator=torch.Generator().manual_seed(1), requires_grad=True)
    lengths = torch.tensor([5, 3])
    norms, _ = gradient_norms(ReadOut(), lambda m: (m(x, lengths).sum(), lengths))
    assert torch.isnan(norms[3:, 1]).all() and not torch.isnan(norms[:, 0]).any()
    for back in range(3):  # the short row's last step is its own t = 2: (Wᵀ)^back v from there
        expected = torch.linalg.matrix_power(W.T, back) @ V
        assert norms[2 - back, 1] == pytest.approx(float(expected.norm()), abs=1e-5)


@pytest.mark.parametrize("cell", cell_names())
def test_a_probed_cell_computes_what_the_cell_computes(cell):
    torch.manual_seed(0)
    rnn = build_cell(cell, 3, 4, 2).eval()
    x, lengths = torch.randn(3, 7, 3), torch.tensor([7, 4, 1])
    expected_out, expected_state = rnn(x, lengths)
    out, state = StepwiseProbe(rnn)(x, lengths)
    assert torch.allclose(out, expected_out, atol=1e-5)
    assert torch.allclose(rnn.final_hidden(state), rnn.final_hidden(expected_state), atol=1e-5)
