"""What every stage shares: argument parsing, the one-line error exit, and the dependency trace."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable

from recipes.cells import cell_names
from recipes.kit.errors import UserError
from recipes.kit.params import KEYS_READ

ROOT = Path(__file__).resolve().parents[2]
# When set to a file path, each stage appends what it imported and read (tests/test_dependencies.py).
TRACE_ENV = "RNN_RECIPES_TRACE"


def parser(description: str, with_run: bool = False, with_cell: bool = False) -> argparse.ArgumentParser:
    """An argument parser taking a recipe name (and a cell, and a seed for runs)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe", help="which recipe: one of params.yaml's recipes (recipes/<name>/)")
    if with_run or with_cell:
        ap.add_argument("cell", help=f"recurrent cell: {', '.join(cell_names())} (recipes/cells/)")
    if with_run:
        ap.add_argument("seed", type=int, help="training seed (one of params.yaml's seeds)")
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    return ap


def check_cell(cell: str) -> str:
    """`cell` if the cell registry knows it, else a `UserError` listing the cells."""
    if cell not in cell_names():
        raise UserError(f"unknown cell {cell!r}: choose one of {', '.join(cell_names())}")
    return cell


def project_files() -> list[str]:
    """The repository's own source files this process has imported, relative to the root."""
    files = set()
    for module in list(sys.modules.values()):
        path = Path(getattr(module, "__file__", None) or "/").resolve()
        if path.is_relative_to(ROOT) and ".venv" not in path.parts:
            files.add(path.relative_to(ROOT).as_posix())
    return sorted(files)


def write_trace(path: str) -> None:
    """Append one JSON line: this stage's command, the project files it imported, the params keys it read."""
    record = {"argv": sys.argv[1:], "module": sys.modules["__main__"].__spec__.name,
              "files": project_files(), "params": sorted(KEYS_READ)}
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def run(main: Callable[[], None]) -> None:
    """Call `main`; turn a `UserError` (or an OS error) into one line on stderr and exit code 2."""
    try:
        main()
    except UserError as err:
        print("error: " + " ".join(str(err).split()), file=sys.stderr)
        sys.exit(2)
    except OSError as err:  # reading or writing outside atomic_path: still one line, naming the file
        print(f"error: {err.filename or 'a file'}: {err.strerror or err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    if os.environ.get(TRACE_ENV):
        write_trace(os.environ[TRACE_ENV])
