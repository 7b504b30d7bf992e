"""Experiments: wire circuits to tasks, run them, store self-describing results."""

from simulations.results import config_of, load, new_dataset, save, variable
from simulations.sweep import load_sweep

__all__ = ["config_of", "load", "load_sweep", "new_dataset", "save", "variable"]
