"""Linear samplers of N(0, H^-1): the optimal irreversible drift against its closed-form rate
tr(H) / K, and the bounds every antisymmetric drift obeys (exact, to rounding)."""

import numpy as np
import pytest
from scipy import linalg

from analysis.linear_samplers import (
    constant_diagonal_basis,
    convergence_rate,
    decay_norm,
    henrici_departure,
    langevin_drift,
    optimal_irreversible_drift,
    stationary_covariance,
)


def _precision(rng, size, condition):
    """A random SPD matrix with eigenvalues log-spaced from 1 to ``condition``."""
    rotation, _ = np.linalg.qr(rng.normal(size=(size, size)))
    return rotation @ np.diag(np.geomspace(1.0, condition, size)) @ rotation.T


@pytest.mark.parametrize("size", [1, 2, 5, 16, 64])
def test_the_basis_gives_a_constant_diagonal(rng, size):
    precision = _precision(rng, size, 100.0)
    basis = constant_diagonal_basis(precision)
    np.testing.assert_allclose(basis.T @ basis, np.eye(size), atol=1e-12)
    np.testing.assert_allclose(np.diag(basis.T @ precision @ basis), np.trace(precision) / size, rtol=1e-12)


@pytest.mark.parametrize("size, condition", [(2, 10.0), (4, 100.0), (16, 1000.0), (64, 100.0)])
def test_the_optimal_drift_samples_the_target_at_the_rate_trace_over_k(rng, size, condition):
    """Exact checks of the construction: the stationary covariance is H^-1 (Lyapunov equation),
    Q is antisymmetric, and in the constant-diagonal basis H^1/2 B H^-1/2 is upper triangular
    with every diagonal entry tr(H) / K, so every eigenvalue is tr(H) / K: above the reversible
    rate lambda_min(H) = 1 by a factor of the mean eigenvalue."""
    precision = _precision(rng, size, condition)
    drift, q = optimal_irreversible_drift(precision)
    np.testing.assert_allclose(q, -q.T, atol=0)
    covariance = stationary_covariance(drift)
    np.testing.assert_allclose(covariance, np.linalg.inv(precision), atol=1e-9 * np.abs(covariance).max())
    root = linalg.sqrtm(precision).real
    basis = constant_diagonal_basis(precision)
    triangular = basis.T @ root @ drift @ np.linalg.inv(root) @ basis
    scale = np.abs(triangular).max()
    assert np.abs(np.tril(triangular, -1)).max() < 1e-10 * scale
    np.testing.assert_allclose(np.diag(triangular), np.trace(precision) / size, rtol=1e-10)
    if size <= 2:  # a small block's computed eigenvalues are accurate
        assert convergence_rate(drift) == pytest.approx(np.trace(precision) / size, rel=1e-6)
    assert convergence_rate(langevin_drift(precision)) == pytest.approx(1.0, rel=1e-9)


def test_no_antisymmetric_drift_is_slower_than_reversible_or_faster_than_the_optimum(rng):
    """Hwang et al. (1993) and the trace bound, for 200 random antisymmetric Q at K = 5 (whose
    eigenvalues are simple, so computed accurately)."""
    precision = _precision(rng, 5, 50.0)
    slowest, fastest = np.linalg.eigvalsh(precision).min(), np.trace(precision) / 5
    for _ in range(200):
        generator = rng.normal(size=(5, 5)) * rng.exponential(3.0)
        drift = (np.eye(5) + generator - generator.T) @ precision
        rate = convergence_rate(drift)
        assert slowest * (1 - 1e-9) <= rate <= fastest * (1 + 1e-9)
        np.testing.assert_allclose(stationary_covariance(drift), np.linalg.inv(precision), rtol=1e-6, atol=1e-9)


def test_decay_and_non_normality_of_the_two_samplers(rng):
    precision = _precision(rng, 4, 100.0)
    reversible = langevin_drift(precision)
    for time in (0.0, 0.5, 3.0):
        assert decay_norm(reversible, precision, time) == pytest.approx(np.exp(-time), rel=1e-9)
    # Symmetric in the target's metric: normal, departure 0.
    root = linalg.sqrtm(precision).real
    assert henrici_departure(root @ reversible @ np.linalg.inv(root)) == pytest.approx(0.0, abs=1e-6)
    assert henrici_departure(np.array([[1.0, 1.0], [0.0, 1.0]])) == pytest.approx(np.sqrt(1 / 3), rel=1e-12)
    optimal, _ = optimal_irreversible_drift(precision)
    assert henrici_departure(root @ optimal @ np.linalg.inv(root)) > 0.5
    # In the target's metric no antisymmetric drift moves away from the target: the decay is
    # never slower than the reversible exp(-lambda_min t) (exact), and the optimum's is much
    # faster by t = 1 (measured 1e-4 to 2e-4 against 0.37 at K = 4 to 64, condition 100).
    for time in (0.01, 0.1, 0.5, 1.0):
        assert decay_norm(optimal, precision, time) <= np.exp(-time) * (1 + 1e-9)
    assert decay_norm(optimal, precision, 1.0) < 0.1 * np.exp(-1.0)


@pytest.mark.parametrize("precision, match", [
    (np.array([[1.0, 0.5], [0.4, 1.0]]), "symmetric"),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), "positive definite"),
    (np.ones(3), "square"),
])
def test_bad_precisions_are_refused(precision, match):
    with pytest.raises(ValueError, match=match):
        optimal_irreversible_drift(precision)


def test_an_unstable_drift_has_no_stationary_covariance():
    with pytest.raises(ValueError, match="no stationary"):
        stationary_covariance(np.array([[-1.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="time"):
        decay_norm(np.eye(2), np.eye(2), -1.0)
