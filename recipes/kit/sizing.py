"""Hidden sizes per cell: as configured, or solved to match a reference cell's parameter count."""

from __future__ import annotations

from types import ModuleType

from recipes.cells import count_parameters
from recipes.kit.errors import UserError

TOLERANCE = 0.02


def parameter_count(recipe: ModuleType, section: dict, meta: dict, cell: str, hidden_size: int) -> int:
    """Trainable parameters of the recipe's model for `cell` at `hidden_size`."""
    return count_parameters(recipe.build_model(section, meta, cell, hidden_size))


def solve_hidden_size(recipe: ModuleType, section: dict, meta: dict, cell: str, target: int) -> int:
    """The hidden size whose parameter count is closest to `target` (bisection;
    the count grows with the hidden size)."""
    lo, hi = 1, 8
    while parameter_count(recipe, section, meta, cell, hi) < target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if parameter_count(recipe, section, meta, cell, mid) < target:
            lo = mid
        else:
            hi = mid
    return min((lo, hi), key=lambda h: abs(parameter_count(recipe, section, meta, cell, h) - target))


def hidden_size_for(recipe: ModuleType, params: dict, name: str, meta: dict, cell: str) -> int:
    """The hidden size `cell` trains with under `compare_by` (hidden | params)."""
    section = params[name]
    base = section["model"]["hidden_size"]
    mode, reference = params["compare_by"], params["reference_cell"]  # both read: both decide the size
    if mode == "hidden" or cell == reference:
        return base
    target = parameter_count(recipe, section, meta, reference, base)
    hidden = solve_hidden_size(recipe, section, meta, cell, target)
    got = parameter_count(recipe, section, meta, cell, hidden)
    if abs(got - target) > TOLERANCE * target:
        raise UserError(
            f"{name}: no hidden size gives {cell} within {TOLERANCE:.0%} of {target} parameters "
            f"(closest: {got} at {hidden}); raise {name}.model.hidden_size or use compare_by: hidden"
        )
    return hidden
