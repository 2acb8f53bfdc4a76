"""What the stage commands share: argument parsing and the one-line error exit (cli), the repository layout
(paths), setting up a run (runs) and the Optuna search behind the tune stage (tuning)."""
