"""The commands: one module per DVC stage, run as `python -m stages.<stage> ...`, plus `check` and `predict`."""
