"""The cell registry: every recurrent cell the study can train, by name, and the contract it keeps.

A cell is one class in one file of this package, decorated with `@register("name")`. Recipes build
cells only through `build_cell` and treat the state as opaque (`final_hidden`, `state_from_hidden`,
`state_from_vector`, `map_state`), so a registered cell runs in every recipe, report and plot.
"""

from __future__ import annotations

from typing import Callable, Protocol, Union

from torch import Tensor, nn

State = Union[Tensor, tuple[Tensor, ...]]


class Cell(Protocol):
    """What a registered cell class provides (`recipes.cells.recurrent.Recurrent` implements the state part)."""

    name: str
    family: str  # cells of one family are compared on cost: parameters and time grow with `gates`
    gates: int  # weight blocks per layer and direction (RNN 1, GRU 3, LSTM 4)
    gated: bool  # the study's claim "gated cells beat plain ones" pairs each gated cell with each plain one
    state_tensors: int  # tensors in the state: 2 for an LSTM (h, c), else 1
    hidden_size: int
    num_layers: int
    num_directions: int
    output_size: int  # hidden_size * num_directions

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0) -> None: ...

    def __call__(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None
                 ) -> tuple[Tensor, State]:
        """x [B, T, in] (lengths [B]: real steps per row) → outputs [B, T, H*D], zeros past each end, and
        the state after each row's last real step, each tensor [L*D, B, H]."""

    def final_hidden(self, state: State) -> Tensor:
        """The last layer's final hidden state, directions concatenated: [B, H*D]."""

    def state_from_hidden(self, h0: Tensor) -> State:
        """An initial state from hidden tensors h0 [L*D, B, H]."""

    def state_from_vector(self, vector: Tensor) -> State:
        """An initial state from one vector per row, [B, state_tensors * L * H] (unidirectional stacks)."""

    def zero_state(self, batch_size: int, device) -> State:
        """An all-zero initial state for `batch_size` rows."""

    @classmethod
    def parameter_count(cls, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool) -> int:
        """The cell's trainable parameters, by formula (the conformance test checks it against the module)."""


REGISTRY: dict[str, type[nn.Module]] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make a cell class available as `name` (in params.yaml `cells:` and on the CLI)."""
    def add(cls: type) -> type:
        if name in REGISTRY:
            raise ValueError(f"cell {name!r} is registered twice ({REGISTRY[name].__module__}, {cls.__module__})")
        cls.name = name
        REGISTRY[name] = cls
        return cls
    return add


def cell_names() -> tuple[str, ...]:
    """Every registered cell, in registration order (the order of tables and plots)."""
    return tuple(REGISTRY)


def cell_class(name: str) -> type[nn.Module]:
    """The class registered as `name`; ValueError naming the choices otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown cell {name!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]


def build_cell(name: str, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
               dropout: float = 0.0) -> nn.Module:
    """A batch-first recurrent stack of the cell registered as `name`."""
    return cell_class(name)(input_size, hidden_size, num_layers, bidirectional, dropout)


def gated_pairs(cells: list[str]) -> list[tuple[str, str]]:
    """(gated, plain) pairs among `cells` for the claim that gating helps, from each class's `gated` flag."""
    plain = [c for c in cells if not cell_class(c).gated]
    return [(g, p) for p in plain for g in cells if cell_class(g).gated]


def map_state(state: State, fn: Callable[[Tensor], Tensor]) -> State:
    """Apply `fn` to every tensor of a state (h, or h and c of an LSTM)."""
    if isinstance(state, tuple):
        return tuple(fn(s) for s in state)
    return fn(state)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
