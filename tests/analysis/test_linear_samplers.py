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


def test_steps_to_stationarity_matches_a_step_by_step_search_on_an_exact_ar1():
    """z' = a z + noise with stationary N(m, s): after t steps from z0 the marginal is
    N(m + a^t (z0 - m), s (1 - a^2t)), whose KL to N(m, s) is written out here by hand."""
    from analysis.linear_samplers import steps_to_stationarity

    a, s, m, z0, tolerance = 0.97, 2.0, 1.5, -4.0, 0.01

    def kl(t, a=a, s=s, offset=z0 - m):
        shrink = a ** (2 * t)
        return 0.5 * ((1 - shrink) + shrink * offset**2 / s - 1 - np.log(1 - shrink))

    by_hand = next(t for t in range(1, 10_000) if kl(t) <= tolerance)
    assert steps_to_stationarity([[a]], [m], [[s]], [z0], tolerance) == by_hand
    # Two independent coordinates: the KLs add.
    both = next(t for t in range(1, 10_000) if kl(t) + kl(t, 0.96, 1.0, 3.0) <= tolerance)
    assert both > by_hand
    assert steps_to_stationarity(np.diag([a, 0.96]), [m, 0.0], np.diag([s, 1.0]), [z0, 3.0], tolerance) == both
    # From N(start, S) only the mean has to move: KL = shrink (z0 - m)^2 / (2 s).
    moved = next(t for t in range(1, 10_000) if a ** (2 * t) * (z0 - m) ** 2 / (2 * s) <= tolerance)
    assert steps_to_stationarity([[a]], [m], [[s]], [z0], tolerance, start_cov=[[s]]) == moved
    with pytest.raises(ValueError, match="tolerance"):
        steps_to_stationarity([[a]], [m], [[s]], [z0], 0.0)
    with pytest.raises(ValueError, match="max_steps"):
        steps_to_stationarity([[0.999999]], [0.0], [[1.0]], [100.0], 1e-6, max_steps=1000)


def test_integrated_autocorrelation_of_an_ar1_is_one_plus_a_over_one_minus_a():
    """z' = a z + noise has rho(t) = a^t, so tau = 1 + 2 a / (1 - a) = (1 + a) / (1 - a); for
    independent coordinates each has its own, and a < 0 (antithetic draws) gives tau < 1."""
    from analysis.linear_samplers import integrated_autocorrelation_steps

    a = np.array([0.9, 0.5, -0.5])
    cov = np.diag(1.0 / (1 - a**2))
    np.testing.assert_allclose(integrated_autocorrelation_steps(np.diag(a), cov), (1 + a) / (1 - a), rtol=1e-12)
    # A rotation of the coordinates mixes them: check against the sum of the series directly.
    rng = np.random.default_rng(0)
    update = 0.3 * rng.normal(size=(4, 4))
    cov = linalg.solve_discrete_lyapunov(update, np.eye(4))
    series = sum(np.linalg.matrix_power(update, t) @ cov for t in range(1, 400))
    np.testing.assert_allclose(integrated_autocorrelation_steps(update, cov), 1 + 2 * np.diag(series) / np.diag(cov),
                               rtol=1e-10)
    with pytest.raises(ValueError, match="spectral radius"):
        integrated_autocorrelation_steps([[1.0]], [[1.0]])
