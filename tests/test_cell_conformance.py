"""The contract every registered cell keeps: a new cell in recipes/cells/ is tested by registering it.

Shapes for 1–2 layers × one or two directions; a padded batch computes what each sequence computes
alone; the state survives `final_hidden` / `state_from_hidden` / `state_from_vector`; a seed fixes the
weights; a gradient reaches the first step; the parameter formula matches the module; compare_by:
params sizing lands within 2 %; a saved model loads to the same outputs.
"""

import io

import pytest
import torch
import yaml

from recipes.cells import UnpackedRecurrent, build_cell, cell_class, cell_names, count_parameters, map_state
from recipes.cells.unpacked import reverse_within_length
from recipes.kit.contract import load_recipe
from recipes.kit.sizing import TOLERANCE, hidden_size_for, parameter_count
from tests.conftest import ROOT, recipe_tests

CELLS = cell_names()
SHAPES = [(layers, bidirectional) for layers in (1, 2) for bidirectional in (False, True)]
RECIPES = yaml.safe_load((ROOT / "params.yaml").read_text())["recipes"]


def padded_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """x [3, 5, 4] with garbage past each row's length, and lengths [3]."""
    torch.manual_seed(1)
    x, lengths = torch.randn(3, 5, 4), torch.tensor([5, 2, 3])
    x[1, 2:], x[2, 3:] = 99.0, -99.0  # padding garbage must not matter
    return x, lengths


def states(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers,bidirectional", SHAPES)
def test_outputs_and_state_have_the_documented_shapes(cell, layers, bidirectional):
    rnn = build_cell(cell, 4, 6, layers, bidirectional)
    x, lengths = padded_batch()
    out, state = rnn(x, lengths)
    directions = 2 if bidirectional else 1
    assert rnn.output_size == 6 * directions and out.shape == (3, 5, 6 * directions)
    assert len(states(state)) == rnn.state_tensors
    assert all(s.shape == (layers * directions, 3, 6) for s in states(state))
    assert rnn.final_hidden(state).shape == (3, 6 * directions)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers,bidirectional", SHAPES)
def test_a_padded_batch_equals_each_sequence_alone(cell, layers, bidirectional):
    torch.manual_seed(0)
    rnn = build_cell(cell, 4, 6, layers, bidirectional).eval()
    x, lengths = padded_batch()
    out, state = rnn(x, lengths)
    final = rnn.final_hidden(state)
    for i, n in enumerate(lengths.tolist()):
        alone_out, alone_state = rnn(x[i : i + 1, :n])
        assert torch.allclose(out[i, :n], alone_out[0], atol=1e-5)
        assert torch.all(out[i, n:] == 0)
        assert torch.allclose(final[i], rnn.final_hidden(alone_state)[0], atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_the_state_round_trips_through_the_helpers(cell):
    rnn = build_cell(cell, 3, 4, num_layers=2)
    state = rnn.state_from_hidden(torch.ones(2, 5, 4))
    assert torch.equal(rnn.final_hidden(map_state(state, lambda s: s * 2)), torch.full((5, 4), 2.0))
    zero = rnn.zero_state(5, "cpu")
    assert all(torch.equal(s, torch.zeros(2, 5, 4)) for s in states(zero))
    vector = torch.arange(5 * rnn.state_tensors * 2 * 4, dtype=torch.float).view(5, -1)
    from_vector = states(rnn.state_from_vector(vector))
    assert len(from_vector) == rnn.state_tensors and all(t.shape == (2, 5, 4) for t in from_vector)
    assert torch.equal(from_vector[0][:, 0].flatten(), vector[0, :8])  # row 0: layer 0 then layer 1


@pytest.mark.parametrize("cell", CELLS)
def test_stepping_with_the_returned_state_equals_one_pass(cell):
    """What decoders do: one step at a time, feeding the state back, gives the whole-sequence outputs."""
    torch.manual_seed(0)
    rnn = build_cell(cell, 4, 6, num_layers=2).eval()
    x = torch.randn(3, 5, 4)
    whole, final = rnn(x)
    state, steps = rnn.zero_state(3, "cpu"), []
    for t in range(x.size(1)):
        out, state = rnn(x[:, t : t + 1], state=state)
        steps.append(out)
    assert torch.allclose(torch.cat(steps, dim=1), whole, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(states(state), states(final)))


@pytest.mark.parametrize("cell", CELLS)
def test_a_seed_fixes_the_weights_and_the_outputs(cell):
    x, lengths = padded_batch()
    outputs = []
    for _ in range(2):
        torch.manual_seed(7)
        outputs.append(build_cell(cell, 4, 6, 2, True)(x, lengths)[0])
    assert torch.equal(outputs[0], outputs[1])


@pytest.mark.parametrize("cell", CELLS)
def test_a_gradient_reaches_the_first_step(cell):
    torch.manual_seed(0)
    rnn = build_cell(cell, 4, 6)
    x = torch.randn(2, 30, 4, requires_grad=True)
    _, state = rnn(x)
    rnn.final_hidden(state).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad[:, 0].abs().sum() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in rnn.parameters())


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers,bidirectional", SHAPES)
def test_the_parameter_formula_counts_the_module(cell, layers, bidirectional):
    rnn = build_cell(cell, 5, 7, layers, bidirectional)
    assert cell_class(cell).parameter_count(5, 7, layers, bidirectional) == count_parameters(rnn)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("name", RECIPES)
def test_compare_by_params_lands_within_two_percent_of_the_reference(params, cell, name):
    params["compare_by"] = "params"
    recipe, section, meta = load_recipe(name), params[name], recipe_tests(name).SIZING_META
    target = parameter_count(recipe, section, meta, params["reference_cell"], section["model"]["hidden_size"])
    got = parameter_count(recipe, section, meta, cell, hidden_size_for(recipe, params, name, meta, cell))
    assert abs(got - target) <= TOLERANCE * target


@pytest.mark.parametrize("cell", CELLS)
def test_a_saved_model_loads_to_the_same_outputs(cell):
    torch.manual_seed(0)
    rnn = build_cell(cell, 4, 6, 2, True).eval()
    buffer = io.BytesIO()
    torch.save(rnn.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(1)
    loaded = build_cell(cell, 4, 6, 2, True).eval()
    loaded.load_state_dict(torch.load(buffer, weights_only=True))
    x, lengths = padded_batch()
    assert torch.equal(loaded(x, lengths)[0], rnn(x, lengths)[0])


@pytest.mark.parametrize("cell", CELLS)
def test_the_unpacked_layers_run_the_cell(cell):
    """UnpackedRecurrent (the POS tagger's path) with a cell's weights gives the cell's outputs: forward as
    is, backward as the cell over each sequence reversed within its length."""
    torch.manual_seed(0)
    forward, backward = build_cell(cell, 4, 6).eval(), build_cell(cell, 4, 6).eval()
    unpacked = UnpackedRecurrent(cell, 4, 6, 1, True).eval()
    unpacked.layers[0][0].load_state_dict(forward.state_dict())
    unpacked.layers[0][1].load_state_dict(backward.state_dict())
    x, lengths = padded_batch()
    expected_back = reverse_within_length(backward(reverse_within_length(x, lengths), lengths)[0], lengths)
    expected = torch.cat([forward(x, lengths)[0], expected_back], dim=-1)
    assert torch.allclose(unpacked(x, lengths), expected, atol=1e-5)
