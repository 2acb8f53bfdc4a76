"""DVC stages, one module each, run as `python -m stages.<stage> ...`."""
