"""Checks of circuit hyperparameters; each raises ValueError naming the parameter."""

from __future__ import annotations

import math
import numbers


def count(name: str, value, minimum: int) -> int:
    """An integer (Python or NumPy, not a bool) >= minimum, returned as int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def positive(name: str, value) -> float:
    """A finite number > 0, returned as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)
