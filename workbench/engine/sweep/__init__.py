"""Batch-size sweeps: which size to run next, each run's figures, and the recommendation."""
