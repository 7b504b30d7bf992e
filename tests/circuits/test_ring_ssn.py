"""The ring SSN: ring connectivity (circulant blocks, Dale's law, population totals), the input
stage written out by hand (free, tied to the ring against SciPy's circulant, and divisively
normalised), the trained
noise covariance against the exact stationary covariance of the discrete OU process and
with a private term written out, the
no-noise control, and clear errors.

False alarms: the noise covariance's 136 distinct entries are each compared within 4.5 SE of
their sampling distribution (independent trials): at most 136 x 6.8e-6 < 1e-3 per run; the
seed is fixed, so the test is deterministic."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from circuits.ring_ssn import RingSSN, ring_kernel, ring_orientations


def _params(ssn, key=0, **overrides):
    params = ssn.init(jax.random.PRNGKey(key))
    params.update({name: jnp.asarray(value, dtype=jnp.float32) for name, value in overrides.items()})
    return params


def test_weights_are_ring_symmetric_obey_dale_and_keep_population_totals():
    ssn = RingSSN(3, 6)
    strength = np.array([[1.1, 0.7], [1.3, 0.4]])
    width = np.array([[0.4, 0.9], [0.6, 1.5]])
    W = np.asarray(ssn.weights(_params(ssn, log_strength=np.log(strength), log_width=np.log(width))), dtype=float)
    n = 6
    for a in range(2):
        for b in range(2):
            block = W[a * n:(a + 1) * n, b * n:(b + 1) * n]
            # circulant: shifting pre and post cells one step round the ring leaves W unchanged
            np.testing.assert_allclose(np.roll(block, (1, 1), axis=(0, 1)), block, rtol=1e-5, atol=1e-7)
            sign = 1.0 if b == 0 else -1.0
            np.testing.assert_allclose(block.sum(1), sign * strength[a, b], rtol=1e-5)
            assert np.all(sign * block > 0)
            # the profile is the von Mises kernel of the pair's width
            theta = np.arange(n) * np.pi / n
            kernel = np.exp((np.cos(2 * (theta[0] - theta)) - 1) / width[a, b] ** 2)
            np.testing.assert_allclose(block[0], sign * strength[a, b] * kernel / kernel.sum(), rtol=1e-5)


def test_input_drive_is_the_filter_stage_written_out():
    ssn = RingSSN(4, 3)
    rng = np.random.default_rng(0)
    filters, x = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    gain, energy_gain, bias = np.array([0.7, -0.3]), np.array([1.5, 2.5]), np.array([2.0, 1.0])
    params = _params(ssn, filters=filters, input_gain=gain, energy_gain=energy_gain, input_bias=bias)
    f = x @ filters.T
    energy = np.sqrt((f**2).mean(1, keepdims=True))
    expected = np.concatenate([gain[0] * f + energy_gain[0] * energy + bias[0],
                               gain[1] * f + energy_gain[1] * energy + bias[1]], axis=1)
    np.testing.assert_allclose(np.asarray(ssn.input_drive(params, jnp.asarray(x))), expected, rtol=1e-5, atol=1e-5)


def test_divisive_normalisation_divides_the_tuned_drive_by_the_energy():
    ssn = RingSSN(4, 3, divisive_normalisation=True)
    rng = np.random.default_rng(2)
    filters, x = rng.standard_normal((3, 4)), 3.0 * rng.standard_normal((2, 4))
    gain, energy_gain, bias, e0 = np.array([0.7, -0.3]), np.array([1.5, 2.5]), np.array([2.0, 1.0]), 1.7
    params = _params(ssn, filters=filters, input_gain=gain, energy_gain=energy_gain, input_bias=bias,
                     log_normalisation_energy=np.log(e0))
    f = x @ filters.T
    energy = np.sqrt((f**2).mean(1, keepdims=True))
    tuned = f / (1.0 + energy / e0)
    expected = np.concatenate([gain[0] * tuned + energy_gain[0] * energy + bias[0],
                               gain[1] * tuned + energy_gain[1] * energy + bias[1]], axis=1)
    np.testing.assert_allclose(np.asarray(ssn.input_drive(params, jnp.asarray(x))), expected, rtol=1e-5, atol=1e-5)
    # e_0 is learned: it starts at the init's value and receives a gradient
    assert float(np.exp(ssn.init(jax.random.PRNGKey(0), normalisation_energy=4.0)["log_normalisation_energy"])) \
        == pytest.approx(4.0)
    gradient = jax.grad(lambda p: jnp.sum(ssn.input_drive(p, jnp.asarray(x)) ** 2))(params)
    assert float(gradient["log_normalisation_energy"]) != 0.0
    assert "log_normalisation_energy" not in RingSSN(4, 3).init(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="normalisation_energy"):
        ssn.init(jax.random.PRNGKey(0), normalisation_energy=0.0)


@pytest.mark.parametrize("ring_size", [5, 6])  # odd and even rings fold the offsets differently
def test_the_ring_input_stage_is_a_circulant_even_mixture_of_fixed_filters(ring_size):
    from scipy.linalg import circulant

    ssn = RingSSN(7, ring_size, input_stage="ring")
    rng = np.random.default_rng(1)
    basis, x = rng.standard_normal((ring_size, 7)), rng.standard_normal((3, 7))
    params = ssn.init(jax.random.PRNGKey(0), filters=basis)
    # it starts from the fixed filters themselves
    np.testing.assert_allclose(np.asarray(ssn.input_filters(params)), basis, rtol=1e-6, atol=1e-6)
    profile = rng.standard_normal(ring_size // 2 + 1)
    params["filter_profile"] = jnp.asarray(profile, dtype=jnp.float32)
    # the offset profile extended evenly round the ring, m(-d) = m(d)
    full = np.concatenate([profile, profile[1:(ring_size + 1) // 2][::-1]])
    mixing = circulant(full)
    np.testing.assert_allclose(mixing, mixing.T)
    np.testing.assert_allclose(np.asarray(ssn.filter_responses(params, jnp.asarray(x))), x @ (mixing @ basis).T,
                               rtol=1e-5, atol=1e-5)
    # only the profile learns: no gradient reaches the fixed filters
    gradient = jax.grad(lambda p: jnp.sum(ssn.input_drive(p, jnp.asarray(x)) ** 2))(params)
    assert np.all(np.asarray(gradient["filters"]) == 0.0)
    assert np.all(np.abs(np.asarray(gradient["filter_profile"])) > 0.0)


def test_ring_kernel_is_positive_definite_and_unit_on_the_diagonal():
    theta = ring_orientations(12)
    for width in (0.2, 0.5, 1.0):  # wider kernels are positive definite too, but below float precision
        kernel = np.asarray(ring_kernel(theta, width), dtype=float)
        np.testing.assert_allclose(np.diag(kernel), 1.0)
        assert np.linalg.eigvalsh(kernel).min() > 0


def test_noise_covariance_matches_the_exact_stationary_covariance():
    """With the cells disconnected from eta's statistics (eta does not feel u), the final eta of
    independent trials is a draw from the discrete OU process's stationary law:
    eta' = (1 - d) eta + sqrt(2 d) L eps has covariance L L^T / (1 - d / 2), d = dt / tau_noise."""
    ssn = RingSSN(2, 8, dt=0.0005)
    params = _params(ssn, log_noise_std=np.log([1.5, 0.8]), log_noise_width=np.log(0.6),
                     noise_correlation_logit=np.arctanh(0.4))
    n_trials, n_steps = 4000, 400  # 0.2 s = 10 noise time constants from eta = 0
    final_eta = ssn.simulate(params, jnp.zeros((1, n_steps, 2)), jax.random.PRNGKey(3), n_trials,
                             record_every=n_steps)["final"][1]
    eta = np.asarray(final_eta[0], dtype=float)
    d = ssn.dt / ssn.tau_noise
    sd = np.repeat([1.5, 0.8], 8)
    theta = np.arange(8) * np.pi / 8
    kernel = np.exp((np.cos(2 * (theta[:, None] - theta[None, :])) - 1) / 0.6**2)
    correlation = np.kron([[1.0, 0.4], [0.4, 1.0]], kernel) + 1e-4 * np.eye(16)
    stationary = sd[:, None] * correlation * sd[None, :] / (1 - d / 2)
    np.testing.assert_allclose(np.asarray(ssn.noise_covariance(params)), sd[:, None] * (correlation - 1e-4 *
                                                                                        np.eye(16)) * sd[None, :],
                               rtol=1e-5, atol=1e-6)
    sample = np.cov(eta, rowvar=False)
    se = np.sqrt((np.outer(np.diag(stationary), np.diag(stationary)) + stationary**2) / n_trials)
    upper = np.triu_indices(16)
    assert np.max(np.abs(sample - stationary)[upper] / se[upper]) < 4.5


def test_private_noise_adds_an_independent_term_per_cell_to_the_kick():
    """Sigma_eta + diag(p)^2, and the OU kick's factor squares to it (times 2 dt / tau_noise),
    with the jitter only on the ring-correlated part."""
    ssn = RingSSN(2, 5, private_noise=True)
    params = _params(ssn, log_noise_std=np.log([1.5, 0.8]), log_noise_width=np.log(0.6),
                     noise_correlation_logit=np.arctanh(0.4), log_private_noise_std=np.log([0.3, 0.9]))
    sd, private = np.repeat([1.5, 0.8], 5), np.repeat([0.3, 0.9], 5)
    theta = np.arange(5) * np.pi / 5
    correlation = np.kron([[1.0, 0.4], [0.4, 1.0]], np.exp((np.cos(2 * (theta[:, None] - theta)) - 1) / 0.6**2))
    expected = sd[:, None] * correlation * sd[None, :] + np.diag(private**2)
    np.testing.assert_allclose(np.asarray(ssn.noise_covariance(params)), expected, rtol=1e-5, atol=1e-6)
    decay = ssn.dt / ssn.tau_noise
    kick = np.asarray(ssn._noise_kick(params, decay), dtype=float)
    jitter = 1e-4 * np.diag(sd**2)
    np.testing.assert_allclose(kick.T @ kick / (2 * decay), expected + jitter, rtol=1e-4, atol=1e-5)
    # off by default, and silent in the no-noise control
    assert "log_private_noise_std" not in RingSSN(2, 5).init(jax.random.PRNGKey(0))
    silent = RingSSN(2, 5, private_noise=True, input_noise=False)
    assert np.all(np.asarray(silent.noise_covariance(silent.init(jax.random.PRNGKey(0)))) == 0)
    with pytest.raises(ValueError, match="private_noise_std"):
        ssn.init(jax.random.PRNGKey(0), private_noise_std=-1.0)


def test_no_noise_control_is_deterministic():
    ssn = RingSSN(3, 4, input_noise=False)
    params = ssn.init(jax.random.PRNGKey(5), filters=np.ones((4, 3)))
    inputs = ssn.constant_input(jnp.ones((2, 3)), 100)
    first = ssn.simulate(params, inputs, jax.random.PRNGKey(6), 3)["u"]
    second = ssn.simulate(params, inputs, jax.random.PRNGKey(7), 3)["u"]
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second))
    assert np.all(np.asarray(ssn.noise_std(params)) == 0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_input=2, n_excitatory=1), "ring size"),
    (dict(n_input=2, n_excitatory=4, n_inhibitory=3), "n_inhibitory"),
    (dict(n_input=0, n_excitatory=4), "n_input"),
    (dict(n_input=2, n_excitatory=4, input_stage="tied"), "input_stage"),
])
def test_bad_circuits_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RingSSN(**kwargs)


def test_bad_initial_filters_and_ring_sizes_are_refused():
    ssn = RingSSN(3, 4)
    with pytest.raises(ValueError, match="filters"):
        ssn.init(jax.random.PRNGKey(0), filters=np.ones((3, 3)))
    with pytest.raises(ValueError, match="ring size"):
        ring_orientations(1)
