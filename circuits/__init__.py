"""What a circuit is and how it learns: stochastic rate circuits and reliability costs."""

from circuits.feedforward import FeedforwardCircuit
from circuits.learning import Objective, TrainingConfig, TrainingDiverged, train
from circuits.recurrent import RecurrentCircuit
from circuits.reliability import BiophysicalCost, LogCost, PowerLawCost, make_cost

__all__ = [
    "BiophysicalCost",
    "FeedforwardCircuit",
    "LogCost",
    "Objective",
    "PowerLawCost",
    "RecurrentCircuit",
    "TrainingConfig",
    "TrainingDiverged",
    "make_cost",
    "train",
]
