"""Input checks shared by the analysis modules.

Every check raises ``ValueError`` naming the offending parameter; none uses ``assert``
(stripped under ``python -O``).
"""

from __future__ import annotations

import numpy as np


def finite_array(name: str, value, ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a float64 array, refusing NaN/inf and a wrong number of dims."""
    array = np.asarray(value, dtype=float)
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def positive(name: str, value, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Strictly positive, finite scalar or array (optionally broadcast to ``shape``)."""
    array = finite_array(name, value)
    if np.any(array <= 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if shape is not None:
        try:
            array = np.broadcast_to(array, shape).copy()
        except ValueError:
            raise ValueError(f"{name} must be a scalar or have shape {shape}, got {array.shape}") from None
    return array


def positive_definite(name: str, value, size: int) -> np.ndarray:
    """Symmetric positive-definite (size, size) matrix."""
    matrix = finite_array(name, value, ndim=2)
    if matrix.shape != (size, size):
        raise ValueError(f"{name} must have shape ({size}, {size}), got {matrix.shape}")
    if not np.allclose(matrix, matrix.T, rtol=1e-10, atol=1e-12):
        raise ValueError(f"{name} must be symmetric")
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite (it has a non-positive eigenvalue)") from None
    return matrix


def observations(name: str, value, n_obs: int) -> np.ndarray:
    """Observations as an (n, n_obs) array; a single (n_obs,) vector becomes one row."""
    array = np.asarray(value, dtype=float)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != n_obs:
        raise ValueError(f"{name} must have shape (n, {n_obs}), got {np.shape(value)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def count(name: str, value, minimum: int = 1) -> int:
    """An integer >= minimum."""
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def probability_vector(name: str, value, atol: float = 1e-8) -> np.ndarray:
    """Non-negative vector (or stack of vectors along the last axis) summing to one."""
    array = finite_array(name, value)
    if np.any(array < 0):
        raise ValueError(f"{name} has negative entries")
    if not np.allclose(array.sum(axis=-1), 1.0, atol=atol):
        raise ValueError(f"{name} must sum to 1 along its last axis")
    return array
