"""Stage: evaluate one trained (recipe, cell, seed) on the test split; write its metrics and samples."""

import torch

from recipes.kit.atomic import atomic_paths, json_text
from recipes.kit.engine import evaluate
from recipes.kit.params import load_params
from stages.common import cli, paths
from stages.common.runs import load_trained, start_run


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
    outputs = paths.SAMPLES / args.recipe / name, paths.RUN_METRICS / args.recipe / f"{name}.json"
    with atomic_paths(*outputs) as (sample_dir, metrics_file), torch.no_grad():
        sample_dir.mkdir()
        title = f"# {args.recipe} · {args.cell} · seed {args.seed}\n\n"
        (sample_dir / "samples.md").write_text(title + run.task.samples(model, sample_dir))
        metrics_file.write_text(json_text(metrics))
    print(f"{args.recipe} {args.cell} seed {args.seed}: " + "  ".join(f"{k} {v:.4f}" for k, v in test.items()))


if __name__ == "__main__":
    cli.run(main)
