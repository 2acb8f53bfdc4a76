"""Stage: fetch one recipe's dataset into data/raw/<recipe>/ with SOURCE.json."""

from recipes.kit.atomic import atomic_path
from recipes.kit.contract import load_recipe
from recipes.kit.params import load_params
from stages.common import cli, paths


def main() -> None:
    """Download the dataset named in params.yaml for one recipe."""
    args = cli.parser(__doc__).parse_args()
    params = load_params(args.params, args.recipe)
    with atomic_path(paths.RAW / args.recipe) as tmp:
        tmp.mkdir()
        load_recipe(args.recipe).download(params[args.recipe], tmp, params["seed"])
    print(f"{args.recipe}: raw data in {paths.RAW / args.recipe}")


if __name__ == "__main__":
    cli.run(main)
