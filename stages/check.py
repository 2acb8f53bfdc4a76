"""Check params.yaml as a whole before anything runs: `make run` calls this first.

`dvc repro` only runs the stages whose params changed, so a typo in a key no
stage reads would otherwise pass unseen. This validates the global keys and
every recipe section, exactly as the stages do, and exits 2 on the first fault.
"""

import argparse

from recipes.kit.params import GLOBAL_SCHEMA, load_params
from stages.common import cli


def main() -> None:
    """Validate every section of the params file; print one line when all is well."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    path = ap.parse_args().params
    params = load_params(path)
    sections = [key for key in params if key not in GLOBAL_SCHEMA]  # load_params allows only recipe names
    for recipe in sections:
        load_params(path, recipe)
    print(f"{path}: ok ({len(sections)} recipe sections: {', '.join(sections)})")


if __name__ == "__main__":
    cli.run(main)
