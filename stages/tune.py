"""Stage: tune one (recipe, cell) with Optuna; write the chosen settings and the trial table.

    python -m stages.tune pos gru      (run by `dvc repro`: stage tune@pos-gru)

With tune.trials: 0 (the default) it writes `{"trials": 0, "settings": {}}` and
the train stages use params.yaml's settings unchanged. Otherwise it runs
tune.trials trials (stages/common/tuning.py) and the train stages of (recipe, cell)
read the best trial's settings. Start more processes of this same command to
share the work of one study; each stops when the study holds enough trials.
"""

from recipes.kit.atomic import write_json
from recipes.kit.params import load_params
from stages.common import cli
from stages.common.paths import tuning_file
from stages.common.tuning import search


def main() -> None:
    """Write data/tuning/<recipe>/<cell>.json."""
    args = cli.parser(__doc__, with_cell=True).parse_args()
    params = load_params(args.params, args.recipe)
    cli.check_cell(args.cell)
    if params["tune"]["trials"] == 0:
        chosen = {"recipe": args.recipe, "cell": args.cell, "trials": 0, "settings": {}}
    else:
        chosen = search(params, args.recipe, args.cell)
        print(f"{args.recipe} {args.cell}: best of {chosen['trials']} trials is trial {chosen['best_trial']} "
              f"({chosen['settings']}), valid {chosen['metric']} {chosen['valid_score']:.4f} "
              f"against {chosen['untuned_valid_score']} untuned")
    write_json(tuning_file(args.recipe, args.cell), chosen)


if __name__ == "__main__":
    cli.run(main)
