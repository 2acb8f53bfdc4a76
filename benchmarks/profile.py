"""Benchmark profiles: run a recipe on its standard dataset at the published baseline's model size.

    python -m benchmarks.profile translation            # prints the `dvc exp run` command
    python -m benchmarks.profile translation --set translation.source.dataset=local \
        --set translation.source.local_path=../shared/data/multi30k --write bench.yaml
                                                        # a whole params file for direct stage runs

The profiles live in benchmarks/profiles.yaml; each value overrides params.yaml.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

import yaml

from recipes.kit.errors import UserError
from recipes.kit.params import load_params, read_yaml

PROFILES = Path(__file__).resolve().parent / "profiles.yaml"


def load_profiles(path: Path = PROFILES) -> dict[str, dict]:
    """The profiles by name: {"baseline": str, "set": {dotted key: value}}."""
    return yaml.safe_load(path.read_text())


def profile_params(params_path: Path, overrides: dict) -> dict:
    """params.yaml with the dotted `overrides` applied, validated for every recipe it lists."""
    plain = read_yaml(params_path)
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = plain
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise UserError(f"benchmark profile: {params_path} has no key {dotted}")
        node[leaf] = value
    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / "params.yaml"
        candidate.write_text(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True))
        for recipe in plain["recipes"]:
            load_params(candidate, recipe)
    return plain


def exp_run_command(name: str, overrides: dict) -> str:
    """The `dvc exp run` command line that runs the profile as a named experiment."""
    sets = [f"-S {shlex.quote(f'{k}={_flow(v)}')}" for k, v in overrides.items()]
    return " \\\n    ".join([f"dvc exp run -n bench-{name}", *sets])


def _flow(value) -> str:
    """A value as one line of YAML (what `-S` parses back): `[gru]`, `true`, `0.5`."""
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).removesuffix("\n...\n").strip()


def parse_set(values: list[str]) -> dict:
    """`key=value` pairs (values read as YAML, as `dvc exp run -S` does)."""
    pairs = {}
    for item in values:
        key, equals, value = item.partition("=")
        if not equals:
            raise UserError(f"--set {item!r}: write KEY=VALUE, e.g. translation.train.epochs=5")
        pairs[key] = yaml.safe_load(value)
    return pairs


def main(argv: list[str] | None = None) -> None:
    """Print a profile's `dvc exp run` command, or write its whole params file with --write."""
    profiles = load_profiles()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(profiles), help="the profile (named after its recipe)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="one more override")
    parser.add_argument("--write", type=Path, metavar="FILE", help="write params.yaml + overrides to FILE")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="the params file to start from")
    args = parser.parse_args(argv)
    overrides = {**profiles[args.name]["set"], **parse_set(args.set)}
    params = profile_params(args.params, overrides)
    print(f"# {profiles[args.name]['baseline']}")
    if args.write:
        args.write.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
        recipe = params["recipes"][0]
        print(f"# wrote {args.write}: python -m stages.train {recipe} <cell> 0 --params {args.write}")
    else:
        print(exp_run_command(args.name, overrides))


if __name__ == "__main__":
    try:
        main()
    except UserError as err:
        sys.exit(f"error: {err}")
