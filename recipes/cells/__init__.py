"""Recurrent cells as plugins: each registered cell is one file of this package.

To add a cell, write `recipes/cells/<name>.py` with a class decorated `@register("<name>")` that keeps
the `Cell` protocol (subclass `Recurrent` for the state helpers), and add the module's name to
`MODULES`, whose order is the order of every table and plot. `pytest tests/test_cell_conformance.py`
then checks it.
"""

from importlib import import_module

from recipes.cells.registry import (
    REGISTRY,
    Cell,
    State,
    build_cell,
    cell_class,
    cell_names,
    count_parameters,
    gated_pairs,
    map_state,
)
from recipes.cells.unpacked import UnpackedRecurrent, reverse_within_length

MODULES = ("rnn", "gru", "lstm", "mingru", "minlstm")
for _module in MODULES:
    import_module(f"recipes.cells.{_module}")  # importing a cell's module registers it

__all__ = ["MODULES", "REGISTRY", "Cell", "State", "UnpackedRecurrent", "build_cell", "cell_class", "cell_names",
           "count_parameters", "gated_pairs", "map_state", "reverse_within_length"]
