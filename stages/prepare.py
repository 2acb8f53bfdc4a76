"""Stage: split and encode one recipe's raw data into tensors in data/prepared/<recipe>/."""

import json

from recipes import RECIPES
from recipes.params import load_params
from stages import cli, paths


def main() -> None:
    """Prepare one recipe's data with the global data seed."""
    args = cli.parser(__doc__).parse_args()
    params = load_params(args.params)
    out = paths.PREPARED / args.recipe
    RECIPES[args.recipe].prepare(params[args.recipe], paths.RAW / args.recipe, out, params["seed"])
    meta = json.loads((out / "meta.json").read_text())
    print(f"{args.recipe}: prepared {meta['sizes']} in {out}")


if __name__ == "__main__":
    cli.run(main)
