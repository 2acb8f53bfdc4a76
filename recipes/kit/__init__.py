"""The recipe kit: what every recipe shares (data sources, rows, splits, text, batching, engine, metrics,
params, sizing, the project-file loaders). `dvc.yaml` depends on it as one directory."""
