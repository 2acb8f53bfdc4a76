"""Stage: split and encode one recipe's raw data into tensors in data/prepared/<recipe>/,
with recipe.json (topology, headline metric, every metric's direction) for the compare stage."""

import json

from recipes.kit.atomic import atomic_path
from recipes.kit.contract import load_recipe
from recipes.kit.params import load_params
from stages.common import cli, paths


def recipe_facts(recipe, meta: dict) -> dict:
    """What compare needs to know of a recipe, so that it never imports one. The prepared data's meta
    may name another headline for its dataset (translation: sacreBLEU on real sentences)."""
    return {"topology": recipe.TOPOLOGY, "headline": meta.get("headline", recipe.HEADLINE),
            "directions": recipe.DIRECTIONS}


def main() -> None:
    """Prepare one recipe's data with the global data seed."""
    args = cli.parser(__doc__).parse_args()
    params = load_params(args.params, args.recipe)
    recipe = load_recipe(args.recipe)
    out = paths.PREPARED / args.recipe
    with atomic_path(out) as tmp:
        recipe.prepare(params[args.recipe], paths.RAW / args.recipe, tmp, params["seed"])
        meta = json.loads((tmp / "meta.json").read_text())
        (tmp / "recipe.json").write_text(json.dumps(recipe_facts(recipe, meta), indent=2) + "\n")
        sizes = meta["sizes"]
    print(f"{args.recipe}: prepared {sizes} in {out}")


if __name__ == "__main__":
    cli.run(main)
