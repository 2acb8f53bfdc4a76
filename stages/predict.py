"""Try a trained model on your own input.

    python -m stages.predict sentiment lstm "a gorgeous, moving film"
    echo "neun" | python -m stages.predict translation gru --seed 1     (one input per line on stdin)

sentiment: a text → its label and probability; pos: words separated by spaces →
word/TAG; translation: a sentence → its translation (beam search); captioning: an
image file → a caption; charlm: a prime → the text the model continues it with.
The model is models/<recipe>/<cell>-seed<N>.pt, written by `dvc repro`.
"""

from __future__ import annotations

import argparse
import sys

from recipes.cells import cell_names
from recipes.kit.errors import UserError
from recipes.kit.params import load_params
from stages.common import cli
from stages.common.runs import load_trained, start_run


def read_inputs(arguments: list[str]) -> list[str]:
    """The inputs given as arguments, else one per non-blank line of stdin."""
    inputs = arguments if arguments else [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not inputs or not all(i.strip() for i in inputs):
        raise UserError("no input: give one or more INPUT arguments, or one input per line on stdin")
    return inputs


def main() -> None:
    """Print the model's output for each input, one line each."""
    ap = cli.parser(__doc__)
    ap.formatter_class = argparse.RawDescriptionHelpFormatter
    ap.add_argument("cell", help=f"recurrent cell of the trained model: {', '.join(cell_names())}")
    ap.add_argument("inputs", nargs="*", metavar="INPUT", help="raw inputs (default: lines of stdin)")
    ap.add_argument("--seed", type=int, default=None, help="training seed of the model (default: first of seeds)")
    args = ap.parse_intermixed_args()  # options may come after the inputs
    cli.check_cell(args.cell)
    params = load_params(args.params, args.recipe)
    seed = params["seeds"][0] if args.seed is None else args.seed
    inputs = read_inputs(args.inputs)
    run = start_run(params, args.recipe, seed)
    model, _ = load_trained(run, args.recipe, args.cell, seed)
    for given, output in zip(inputs, run.recipe.predict(run.task, model, inputs)):
        print(f"{given}\t→ {output}")


if __name__ == "__main__":
    cli.run(main)
