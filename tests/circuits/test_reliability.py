"""Reliability costs against their closed forms, and their single-layer optima against a 1-D minimiser."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from circuits.reliability import BiophysicalCost, LogCost, PowerLawCost, make_cost

COSTS = [LogCost(0.7), PowerLawCost(0.5, scale=0.8), PowerLawCost(2.0, strength=0.3),
         BiophysicalCost(energy_per_site=0.05, release_probability=0.3, signal_size=1.2)]


def test_cost_values_match_closed_forms():
    sigma = np.array([0.3, 1.0, 2.5])
    assert float(LogCost(0.7)(sigma)) == pytest.approx(-0.7 * np.log(sigma).sum(), rel=1e-6)
    expected = 2.0 * np.sum((0.8 / sigma) ** 0.5) / 0.5
    assert float(PowerLawCost(0.5, 0.8, 2.0)(sigma)) == pytest.approx(expected, rel=1e-6)
    bio = BiophysicalCost(energy_per_site=0.05, release_probability=0.3, signal_size=1.2)
    n_sites = 1.2**2 * 0.7 / (0.3 * sigma**2)
    np.testing.assert_allclose(bio.n_sites(sigma), n_sites, rtol=1e-6)
    assert float(bio(sigma)) == pytest.approx(0.05 * n_sites.sum(), rel=1e-6)


@pytest.mark.parametrize("cost", COSTS, ids=lambda c: type(c).__name__)
def test_covariance_form_equals_per_neuron_form_for_independent_noise(cost):
    sigma = np.array([0.4, 0.9, 1.7])
    assert float(cost.of_covariance(jnp.diag(sigma**2))) == pytest.approx(float(cost(sigma)), rel=1e-5)


def test_log_cost_of_covariance_is_the_negative_entropy_up_to_a_constant(rng):
    factor = rng.normal(size=(3, 3))
    cov = factor @ factor.T + np.eye(3)
    _, logdet = np.linalg.slogdet(cov)
    assert float(LogCost(1.0).of_covariance(jnp.asarray(cov))) == pytest.approx(-0.5 * logdet, rel=1e-5)


@pytest.mark.parametrize("cost", COSTS, ids=lambda c: type(c).__name__)
@pytest.mark.parametrize("precision", [0.5, 3.0, 40.0])
def test_optimal_variance_minimises_the_single_neuron_objective(cost, precision):
    def objective(log_sd):
        return 0.5 * precision * np.exp(2 * log_sd) + float(cost(jnp.array([np.exp(log_sd)])))

    best = optimize.minimize_scalar(objective, bounds=(-10, 10), method="bounded", options={"xatol": 1e-10})
    # The cost is evaluated in float32 (relative noise ~6e-8), so near its flat minimum the
    # minimiser can only locate the argmin to ~sqrt(6e-8) ~ 3e-4 relative.
    assert cost.optimal_variance(precision) == pytest.approx(np.exp(2 * best.x), rel=2e-3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(family="log", strength=-1.0), "strength"),
    (dict(family="power", exponent=-0.5), "exponent"),
    (dict(family="power"), "exponent"),
    (dict(family="cubic"), "unknown cost family"),
])
def test_bad_cost_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_cost(**kwargs)
    with pytest.raises(ValueError, match="release_probability"):
        BiophysicalCost(release_probability=1.0)
