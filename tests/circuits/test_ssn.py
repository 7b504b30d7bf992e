"""The stochastic SSN: structure (Dale's law, no autapses), OU noise statistics against the
closed form, and clear errors.

False alarms: the stationary variance is compared with the discrete Lyapunov solution within
4 SE (effective sample size counted conservatively, a quarter of the draws): at most 6e-5."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from circuits.ssn import StochasticSSN


def test_weights_obey_dale_and_have_no_autapses():
    ssn = StochasticSSN(3, 4, n_inhibitory=2)
    W = np.asarray(ssn.weights(ssn.init(jax.random.PRNGKey(0))))
    assert W.shape == (6, 6)
    assert np.all(np.diag(W) == 0)
    assert np.all(W[:, :4] >= 0) and np.all(W[:, 4:] <= 0)
    # Each population receives Hennequin et al.'s totals (before jitter the rows sum to them).
    assert np.all(W[:4, :4].sum(1) > 0) and np.all(W[:4, 4:].sum(1) < 0)


def test_uncoupled_cell_variance_matches_ou_filter_closed_form():
    """With W = 0 and no drive, u is OU noise low-pass filtered by the membrane. The exact
    stationary variance of the discrete-time pair (u, eta) solves a 2x2 Lyapunov equation."""
    ssn = StochasticSSN(1, 1, dt=0.001, tau_excitatory=0.02, tau_inhibitory=0.01, tau_noise=0.02)
    params = ssn.init(jax.random.PRNGKey(1), noise_std=1.5)
    params["log_weights"] = jnp.full((2, 2), -60.0)  # W ~ 0
    params["input_bias"] = jnp.full(2, -30.0)  # below threshold: rates exactly 0
    params["input_weights"] = jnp.zeros((2, 1))
    n_steps = 20_000
    u = ssn.simulate(params, jnp.zeros((1, n_steps, 1)), jax.random.PRNGKey(2), 64, record_every=10)["u"]
    fluctuation = np.asarray(u[0, :, 200:, 0]) + 30.0  # excitatory cell, after 2 s of burn-in
    a = ssn.dt / ssn.tau_excitatory
    d = ssn.dt / ssn.tau_noise
    F = np.array([[1 - a, a], [0, 1 - d]])
    Q = np.diag([0.0, 1.5**2 * 2 * d])
    cov = np.linalg.solve(np.eye(4) - np.kron(F, F), Q.ravel()).reshape(2, 2)
    # Samples 10 ms apart are correlated; 64 chains x 1800 draws give ~ 64 * 1800 / 4 effective draws.
    se = cov[0, 0] * np.sqrt(2 / (64 * 1800 / 4))
    assert abs(fluctuation.var() - cov[0, 0]) < 4 * se


def test_readout_and_shapes():
    ssn = StochasticSSN(2, 3)
    params = ssn.init(jax.random.PRNGKey(3))
    out = ssn.simulate(params, ssn.constant_input(jnp.ones((4, 2)), 40), jax.random.PRNGKey(4), 5, record_every=4)
    assert out["u"].shape == (4, 5, 10, 6)
    assert ssn.readout(out["u"]).shape == (4, 5, 10, 3)
    np.testing.assert_allclose(ssn.readout(jnp.full((1, 6), 4.0 + 2.0 * 1.5)), 1.5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_input=0, n_excitatory=2), "n_input"),
    (dict(n_input=2, n_excitatory=2, dt=0.005), "dt"),
    (dict(n_input=2, n_excitatory=2, gain=-1.0), "gain"),
    (dict(n_input=2, n_excitatory=2, readout_scale=0.0), "readout_scale"),
])
def test_bad_hyperparameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StochasticSSN(**kwargs)


def test_simulate_rejects_bad_inputs():
    ssn = StochasticSSN(2, 2)
    params = ssn.init(jax.random.PRNGKey(5))
    with pytest.raises(ValueError, match="inputs must be"):
        ssn.simulate(params, jnp.zeros((3, 2)), jax.random.PRNGKey(0), 2)
    with pytest.raises(ValueError, match="record_every"):
        ssn.simulate(params, jnp.zeros((1, 10, 2)), jax.random.PRNGKey(0), 2, record_every=3)
