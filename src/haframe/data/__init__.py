"""Prepared datasets: arrays on disk, loaded by split; see ``prepared.py``."""
