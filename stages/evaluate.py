"""Stage: evaluate one trained (recipe, cell, seed) on the test split; write its metrics and samples.

For a recipe whose task has `gradient_loss` (sentiment, memory) and the seed `gradients.seed`, the run's
JSON also holds the gradient through time (recipes/kit/gradients.py) of the trained model and of the model
as training started: built again from the seed, which gives train's initial weights exactly under
`compare_by: hidden` (under `params`, sizing draws from the generator first).
"""

import torch

from recipes.kit.atomic import atomic_paths, json_text
from recipes.kit.engine import evaluate, seed_everything
from recipes.kit.gradients import through_time
from recipes.kit.params import load_params
from stages.common import cli, paths
from stages.common.runs import Run, build, load_trained, start_run


def gradients_through_time(run: Run, model: torch.nn.Module, cell: str, seed: int, hidden_size: int,
                           rows: int) -> dict:
    """{"initial": …, "trained": …}: the gradient summaries of the model before and after training."""
    seed_everything(seed)
    initial = build(run, cell, hidden_size)
    return {"initial": through_time(initial, run.task, rows), "trained": through_time(model, run.task, rows)}


def main() -> None:
    """Write metrics/runs/<recipe>/<cell>-seed<N>.json and reports/samples/<recipe>/<cell>-seed<N>/."""
    args = cli.parser(__doc__, with_run=True).parse_args()
    params = load_params(args.params, args.recipe)
    cli.check_cell(args.cell)
    run = start_run(params, args.recipe, args.seed)
    name = paths.run_name(args.cell, args.seed)
    model, facts = load_trained(run, args.recipe, args.cell, args.seed)
    test = evaluate(run.task, model, "test")
    metrics = {"recipe": args.recipe, "cell": args.cell, "seed": args.seed, "test": test, **facts}
    measured, rows = params["gradients"]["seed"], params["gradients"]["rows"]
    if args.seed == measured and hasattr(run.task, "gradient_loss"):
        metrics["gradients"] = gradients_through_time(run, model, args.cell, args.seed, facts["hidden_size"], rows)
    outputs = paths.SAMPLES / args.recipe / name, paths.RUN_METRICS / args.recipe / f"{name}.json"
    with atomic_paths(*outputs) as (sample_dir, metrics_file), torch.no_grad():
        sample_dir.mkdir()
        title = f"# {args.recipe} · {args.cell} · seed {args.seed}\n\n"
        (sample_dir / "samples.md").write_text(title + run.task.samples(model, sample_dir))
        metrics_file.write_text(json_text(metrics))
    print(f"{args.recipe} {args.cell} seed {args.seed}: " + "  ".join(f"{k} {v:.4f}" for k, v in test.items()))


if __name__ == "__main__":
    cli.run(main)
