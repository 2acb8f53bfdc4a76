"""The cell factory: packing hides padding, every cell trains, the state stays opaque; the unpacked
layers compute what the packed ones do."""

import pytest
import torch

from recipes.cells import CELL_CLASSES, Recurrent, UnpackedRecurrent, map_state, reverse_within_length

CELLS = list(CELL_CLASSES)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_batch_equals_each_sequence_alone(cell, bidirectional):
    torch.manual_seed(0)
    rnn = Recurrent(cell, 5, 7, num_layers=2, bidirectional=bidirectional).eval()
    lengths = torch.tensor([4, 2, 3])
    x = torch.randn(3, 4, 5)
    x[1, 2:] = 99.0  # padding garbage must not matter
    x[2, 3:] = -99.0
    out, state = rnn(x, lengths)
    final = rnn.final_hidden(state)
    for i, n in enumerate(lengths.tolist()):
        alone_out, alone_state = rnn(x[i : i + 1, :n])
        assert torch.allclose(out[i, :n], alone_out[0], atol=1e-5)
        assert torch.all(out[i, n:] == 0)
        assert torch.allclose(final[i], rnn.final_hidden(alone_state)[0], atol=1e-5)


def unpacked_copy_of(packed: Recurrent, cell: str) -> UnpackedRecurrent:
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
    packed = Recurrent(cell, 5, 7, num_layers=2, bidirectional=bidirectional).eval()
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


@pytest.mark.parametrize("cell", CELLS)
def test_forward_and_backward(cell):
    rnn = Recurrent(cell, 4, 6, num_layers=1, bidirectional=True)
    out, state = rnn(torch.randn(2, 5, 4), torch.tensor([5, 3]))
    assert out.shape == (2, 5, 12)
    assert rnn.final_hidden(state).shape == (2, 12)
    (out.sum() + rnn.final_hidden(state).sum()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in rnn.parameters())


@pytest.mark.parametrize("cell", CELLS)
def test_state_helpers_hide_lstm_pairs(cell):
    rnn = Recurrent(cell, 3, 4, num_layers=2)
    h0 = torch.ones(2, 5, 4)
    state = rnn.state_from_hidden(h0)
    doubled = map_state(state, lambda s: s * 2)
    assert torch.equal(rnn.final_hidden(doubled), torch.full((5, 4), 2.0))
    out, _ = rnn(torch.randn(5, 6, 3), state=rnn.zero_state(5, "cpu"))
    assert out.shape == (5, 6, 4)


def test_lstm_forget_gate_bias_starts_at_one():
    rnn = Recurrent("lstm", 3, 4)
    assert torch.all(rnn.rnn.bias_ih_l0[4:8] == 1.0)


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="choose from rnn, gru, lstm"):
        Recurrent("transformer", 3, 4)


@pytest.mark.parametrize("cell", CELLS)
def test_state_from_vector_fills_every_state_tensor(cell):
    rnn = Recurrent(cell, 3, 4, num_layers=2)
    vector = torch.arange(5 * rnn.state_tensors * 2 * 4, dtype=torch.float).view(5, -1)
    state = rnn.state_from_vector(vector)
    tensors = state if isinstance(state, tuple) else (state,)
    assert len(tensors) == rnn.state_tensors
    assert all(t.shape == (2, 5, 4) for t in tensors)
    assert torch.equal(tensors[0][:, 0].flatten(), vector[0, :8])  # sequence 0: layer 0 then layer 1
