"""What every stage shares: argument parsing and the one-line error exit."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from recipes import RECIPES
from recipes.errors import UserError  # noqa: F401 (re-exported for tools)
from recipes.params import CELL_NAMES


def parser(description: str, with_run: bool = False) -> argparse.ArgumentParser:
    """An argument parser taking a recipe name (and a cell and seed for runs)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("recipe", choices=sorted(RECIPES), help="which recipe (topology)")
    if with_run:
        ap.add_argument("cell", choices=CELL_NAMES, help="recurrent cell")
        ap.add_argument("seed", type=int, help="training seed (one of params.yaml's seeds)")
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    return ap


def run(main: Callable[[], None]) -> None:
    """Call `main`; turn a `UserError` into one line on stderr and exit code 2."""
    try:
        main()
    except UserError as err:
        print("error: " + " ".join(str(err).split()), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
