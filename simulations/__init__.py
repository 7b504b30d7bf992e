"""Experiments: wire circuits to tasks, run them, store self-describing results."""

from simulations.results import config_of, load, new_dataset, save, variable

__all__ = ["config_of", "load", "new_dataset", "save", "variable"]
