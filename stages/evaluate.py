"""Stage: evaluate one trained (recipe, cell, seed) on the test split; write its metrics and samples."""

import torch

from recipes.atomic import atomic_path, write_json
from recipes.engine import evaluate
from recipes.errors import UserError
from recipes.params import load_params
from stages import cli, paths
from stages.runs import build, start_run


def main() -> None:
    """Write metrics/runs/<recipe>/<cell>-seed<N>.json and reports/samples/<recipe>/<cell>-seed<N>/."""
    args = cli.parser(__doc__, with_run=True).parse_args()
    params = load_params(args.params)
    run = start_run(params, args.recipe, args.seed)
    name = paths.run_name(args.cell, args.seed)
    checkpoint_path = paths.MODELS / args.recipe / f"{name}.pt"
    if not checkpoint_path.exists():
        raise UserError(f"{checkpoint_path} is missing: run `dvc repro` so the train stage writes it")
    checkpoint = torch.load(checkpoint_path, map_location=run.device)
    model = build(run, args.cell, checkpoint["train"]["hidden_size"])
    model.load_state_dict(checkpoint["state_dict"])
    test = evaluate(run.task, model, "test")
    metrics = {"recipe": args.recipe, "cell": args.cell, "seed": args.seed,
               "test": test, **checkpoint["train"]}
    with atomic_path(paths.SAMPLES / args.recipe / name) as sample_dir, torch.no_grad():
        sample_dir.mkdir()
        title = f"# {args.recipe} · {args.cell} · seed {args.seed}\n\n"
        (sample_dir / "samples.md").write_text(title + run.task.samples(model, sample_dir))
    write_json(paths.RUN_METRICS / args.recipe / f"{name}.json", metrics)
    print(f"{args.recipe} {args.cell} seed {args.seed}: " + "  ".join(f"{k} {v:.4f}" for k, v in test.items()))


if __name__ == "__main__":
    cli.run(main)
