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


def steps(name: str, duration, dt: float, minimum: int = 1) -> int:
    """A duration (seconds) as a whole number of steps of dt, at least ``minimum``."""
    if isinstance(duration, bool) or not isinstance(duration, numbers.Real) or not math.isfinite(duration) \
            or duration < 0:
        raise ValueError(f"{name} must be a finite duration >= 0 seconds, got {duration!r}")
    n_steps = duration / dt
    if abs(n_steps - round(n_steps)) > 1e-6 * max(1.0, n_steps) or round(n_steps) < minimum:
        raise ValueError(f"{name} must be a multiple of dt = {dt} s, at least {minimum} step(s); got {duration} s")
    return int(round(n_steps))
