"""Cells beyond the shared contract (tests/test_cell_conformance.py): the fused PyTorch cells' unpacked
layers equal their packed stacks, the LSTM's forget bias, the minimal cells' two scans, unknown names."""

import pytest
import torch

from recipes.cells import UnpackedRecurrent, build_cell, cell_class, cell_names, reverse_within_length
from recipes.cells.minimal import parallel_scan, sequential_scan
from recipes.cells.recurrent import TorchRecurrent

CELLS = [c for c in cell_names() if issubclass(cell_class(c), TorchRecurrent)]  # fused PyTorch cells


def unpacked_copy_of(packed: TorchRecurrent, cell: str) -> UnpackedRecurrent:
    """An UnpackedRecurrent holding `packed`'s weights: layer l, direction d ← its `_l{l}` / `_l{l}_reverse`."""
    rnn = packed.rnn
    unpacked = UnpackedRecurrent(cell, rnn.input_size, rnn.hidden_size, rnn.num_layers, rnn.bidirectional)
    with torch.no_grad():
        for layer, directions in enumerate(unpacked.layers):
            for direction, one in enumerate(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                for name, param in one.rnn.named_parameters():
                    param.copy_(getattr(rnn, name.replace("_l0", suffix)))
    return unpacked.eval()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_unpacked_layers_equal_the_packed_ones(cell, bidirectional):
    torch.manual_seed(0)
    packed = build_cell(cell, 5, 7, num_layers=2, bidirectional=bidirectional).eval()
    unpacked = unpacked_copy_of(packed, cell)
    assert sum(p.numel() for p in unpacked.parameters()) == sum(p.numel() for p in packed.parameters())
    lengths = torch.tensor([4, 1, 3])
    x = torch.randn(3, 4, 5)
    x[1, 1:] = 99.0  # padding garbage must not matter
    x[2, 3:] = -99.0
    out, state = packed(x, lengths)
    fast = unpacked(x, lengths)
    assert torch.allclose(fast, out, atol=1e-5)  # zeros past each end included
    assert torch.allclose(unpacked.final_hidden(fast, lengths), packed.final_hidden(state), atol=1e-5)


def test_reverse_within_length_keeps_padding_in_place():
    x = torch.arange(8.0).view(2, 4, 1)
    assert reverse_within_length(x, torch.tensor([4, 2]))[:, :, 0].tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]


def test_lstm_forget_gate_bias_starts_at_one():
    rnn = build_cell("lstm", 3, 4)
    assert torch.all(rnn.rnn.bias_ih_l0[4:8] == 1.0)


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="choose from rnn, gru, lstm, mingru, minlstm"):
        build_cell("transformer", 3, 4)




@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_the_parallel_scan_equals_the_sequential_form(cell):
    """Training runs the log-space scan, decoding the step-by-step recurrence: the same numbers to 1e-5."""
    torch.manual_seed(0)
    rnn = build_cell(cell, 4, 6)
    log_a, log_b = rnn.log_coefficients(rnn.layers[0][0](torch.randn(3, 64, 4)))
    h0 = torch.randn(3, 6)
    assert torch.allclose(parallel_scan(log_a, log_b, h0), sequential_scan(log_a, log_b, h0), atol=1e-5)
