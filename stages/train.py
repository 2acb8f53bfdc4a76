"""Stage: train one (recipe, cell, seed); keep the best checkpoint and the per-epoch history."""

import csv
import io

from recipes.cells import count_parameters
from recipes.kit.atomic import atomic_paths, write_torch
from recipes.kit.contract import selection_metric
from recipes.kit.engine import fit
from recipes.kit.params import load_params
from recipes.kit.sizing import hidden_size_for
from recipes.kit.space import TUNABLE, setting_key
from stages.common import cli, paths
from stages.common.runs import build, start_run, tuned_params

HISTORY_COLUMNS = ["epoch", "train_loss", "valid_loss", "valid_metric", "seconds", "examples_per_s"]


def history_csv(history: list[dict]) -> str:
    """The per-epoch history as CSV text (DVC plots read it)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()})
    return buffer.getvalue()


def main() -> None:
    """Train with early stopping and write models/ and reports/history/."""
    args = cli.parser(__doc__, with_run=True).parse_args()
    params = tuned_params(load_params(args.params, args.recipe), args.recipe, cli.check_cell(args.cell))
    run = start_run(params, args.recipe, args.seed)
    hidden = hidden_size_for(run.recipe, params, args.recipe, run.meta, args.cell)
    model = build(run, args.cell, hidden)
    n_params = count_parameters(model)
    print(f"{args.recipe} {args.cell} seed {args.seed}: hidden {hidden}, {n_params} parameters, {run.device}")
    metric = selection_metric(run.recipe, run.section)
    result = fit(run.task, model, run.section["train"], run.generator, metric, run.recipe.DIRECTIONS[metric])
    name = paths.run_name(args.cell, args.seed)
    summary = {"hidden_size": hidden, "parameters": n_params, "best_epoch": result.best_epoch, "selected_by": metric,
               "epochs_run": result.epochs_run, "train_seconds": result.train_seconds,
               "seconds_per_epoch": result.train_seconds / result.epochs_run,
               "examples_per_s": result.examples_per_s, "tokens_per_s": result.tokens_per_s,
               "settings": {setting_key(name): run.section[t.part][name] for name, t in TUNABLE.items()}}
    checkpoint = {"recipe": args.recipe, "cell": args.cell, "state_dict": model.state_dict(), "train": summary}
    with atomic_paths(paths.HISTORY / args.recipe / f"{name}.csv", paths.MODELS / args.recipe / f"{name}.pt") as (
            history, weights):
        history.write_text(history_csv(result.history))
        write_torch(weights, checkpoint)


if __name__ == "__main__":
    cli.run(main)
