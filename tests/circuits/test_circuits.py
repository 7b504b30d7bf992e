"""Contract tests over every circuit class, and the recurrent dynamics against exact answers.

False alarms: sampled moments are compared with the exact response moments within 5 SE (sd /
sqrt(n) for means, var sqrt(2 / (n - 1)) for variances, n = 20000 independent trials):
two-sided Gaussian 6e-7 per number, 2e-5 for the 32 numbers. The other tests compare with
closed forms (Lyapunov solutions) to rounding. Seeds are fixed, so a run is never flaky."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import linalg

from circuits.feedforward import FeedforwardCircuit
from circuits.recurrent import RecurrentCircuit

CIRCUITS = [
    FeedforwardCircuit(3, 2),
    FeedforwardCircuit(3, 2, activation="tanh", noise_gating=True),
    FeedforwardCircuit(3, 2, n_hidden=4, activation="relu"),
    FeedforwardCircuit(3, 2, noise_site="synapses"),
    FeedforwardCircuit(3, 2, noise_gating=True, noise_site="both"),
    FeedforwardCircuit(3, 2, noise_gating=True, encoder="mlp", encoder_width=5),
    FeedforwardCircuit(3, 2, n_hidden=4, activation="relu", noise_gating=True, encoder="mlp", encoder_width=5),
    RecurrentCircuit(3, 2),
]


def _perturbed_params(circuit, key):
    params = circuit.init(key)
    keys = iter(jax.random.split(jax.random.PRNGKey(7), len(params)))
    # Move every parameter off its initial value so the checks see non-trivial structure.
    out = {name: value + 0.2 * jax.random.normal(next(keys), value.shape) for name, value in params.items()}
    if isinstance(circuit, RecurrentCircuit):
        out["recurrent_weights"] = 0.3 * out["recurrent_weights"]
    return out


@pytest.mark.parametrize("circuit", CIRCUITS, ids=repr)
def test_sample_moments_match_the_exact_response_moments(circuit):
    params = _perturbed_params(circuit, jax.random.PRNGKey(0))
    x = jnp.array([[0.5, -1.0, 0.3], [1.5, 0.2, -0.7]])
    n = 20_000
    kwargs = {"burn_in_steps": 400} if isinstance(circuit, RecurrentCircuit) else {}
    samples = np.asarray(circuit.sample(params, x, jax.random.PRNGKey(1), n, **kwargs)["responses"], dtype=float)
    assert samples.shape == (2, n, 2)
    cov = np.asarray(circuit.response_covariance(params, x), dtype=float)
    if isinstance(circuit, RecurrentCircuit):
        mean = np.asarray(circuit.fixed_point(params, x), dtype=float)
    else:
        mean = np.asarray(circuit.mean(params, x), dtype=float)
    sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    assert np.all(np.abs(samples.mean(1) - mean) < 5 * sd / np.sqrt(n))
    # The sample variance of a Gaussian has sd var * sqrt(2 / (n - 1)).
    variances = samples.var(1, ddof=1)
    assert np.all(np.abs(variances - sd**2) < 5 * sd**2 * np.sqrt(2 / (n - 1)))


@pytest.mark.parametrize("circuit", CIRCUITS, ids=repr)
def test_same_key_same_samples(circuit):
    params = circuit.init(jax.random.PRNGKey(0))
    x = jnp.ones((2, 3))
    kwargs = {"burn_in_steps": 20} if isinstance(circuit, RecurrentCircuit) else {}
    a = circuit.sample(params, x, jax.random.PRNGKey(3), 5, **kwargs)["responses"]
    b = circuit.sample(params, x, jax.random.PRNGKey(3), 5, **kwargs)["responses"]
    c = circuit.sample(params, x, jax.random.PRNGKey(4), 5, **kwargs)["responses"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_multilayer_noise_is_correlated_through_the_readout():
    circuit = FeedforwardCircuit(2, 2, n_hidden=1)
    params = circuit.init(jax.random.PRNGKey(0))
    params["readout_weights"] = jnp.array([[1.0], [1.0]])
    cov = np.asarray(circuit.response_covariance(params, jnp.zeros((1, 2))))[0]
    hidden_var, own_var = 0.25, 0.25  # both noise sds initialised at 0.5
    np.testing.assert_allclose(cov, own_var * np.eye(2) + hidden_var * np.ones((2, 2)), rtol=1e-6)


def test_recurrent_weights_have_no_autapses_and_dale_signs():
    circuit = RecurrentCircuit(2, 3, variant="supralinear", n_inhibitory=2)
    params = circuit.init(jax.random.PRNGKey(0))
    params["recurrent_weights"] = jax.random.normal(jax.random.PRNGKey(1), (5, 5))
    W = np.asarray(circuit.recurrent_matrix(params))
    assert np.all(np.diag(W) == 0)
    assert np.all(W[:, :3] >= 0) and np.all(W[:, 3:] <= 0)


def test_discrete_stationary_covariance_solves_the_lyapunov_equation_and_tends_to_continuous():
    circuit = RecurrentCircuit(2, 3, dt=0.0001)
    params = circuit.init(jax.random.PRNGKey(0))
    W = np.array([[0.0, 0.4, -0.2], [0.3, 0.0, 0.1], [-0.5, 0.2, 0.0]])
    params["recurrent_weights"] = jnp.asarray(W)
    sigma2 = np.exp(2 * np.asarray(params["log_noise_std"], dtype=float))
    cov = np.asarray(circuit.stationary_covariance(params), dtype=float)
    F = np.asarray(circuit.euler_matrix(params), dtype=float)
    np.testing.assert_allclose(F @ cov @ F.T + np.diag(2 * sigma2 * circuit.dt / circuit.tau), cov, atol=1e-5)
    # Continuous time: (W - I) S + S (W - I)^T + 2 diag(sigma^2) = 0 (tau cancels).
    continuous = linalg.solve_continuous_lyapunov(W - np.eye(3), -2 * np.diag(sigma2))
    np.testing.assert_allclose(cov, continuous, rtol=5e-3)


def test_langevin_weights_sample_a_gaussian_posterior():
    """W = I - diag(sigma^2) H with sigma_i^2 = 1 / H_ii has a zero diagonal and stationary cov H^-1."""
    H = np.array([[4.0, 1.5, 0.5], [1.5, 3.0, -1.0], [0.5, -1.0, 2.0]])
    circuit = RecurrentCircuit(2, 3, dt=0.00005)
    params = circuit.init(jax.random.PRNGKey(0))
    sigma2 = 1 / np.diag(H)
    params["recurrent_weights"] = jnp.asarray(np.eye(3) - sigma2[:, None] * H)
    params["log_noise_std"] = jnp.asarray(0.5 * np.log(sigma2))
    np.testing.assert_allclose(np.asarray(circuit.stationary_covariance(params)), np.linalg.inv(H), rtol=5e-3)


def test_divergent_dynamics_are_refused_naming_the_spectral_radius():
    circuit = RecurrentCircuit(2, 2)
    params = circuit.init(jax.random.PRNGKey(0))
    params["recurrent_weights"] = jnp.array([[0.0, 2.0], [2.0, 0.0]])  # eigenvalue 1 of W - I: unstable
    with pytest.raises(ValueError, match=r"spectral radius of the Euler update matrix is 1\.0"):
        circuit.sample(params, jnp.zeros((1, 2)), jax.random.PRNGKey(0), 3)


def test_supralinear_circuit_runs_and_its_divergence_is_reported():
    circuit = RecurrentCircuit(2, 2, variant="supralinear", n_inhibitory=1)
    params = circuit.init(jax.random.PRNGKey(0))
    out = circuit.sample(params, jnp.ones((2, 2)), jax.random.PRNGKey(1), 4, burn_in_steps=200)["responses"]
    assert out.shape == (2, 4, 2) and np.all(np.isfinite(out))
    params["recurrent_weights"] = jnp.array([[0.0, 5.0, 0.0], [5.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # no inhibition
    with pytest.raises(ValueError, match="spectral radius"):
        circuit.sample(params, 3 * jnp.ones((1, 2)), jax.random.PRNGKey(1), 4, burn_in_steps=2000)


@pytest.mark.parametrize("make, match", [
    (lambda: FeedforwardCircuit(0, 2), "n_input"),
    (lambda: FeedforwardCircuit(3, 2, activation="sigmoidish"), "activation"),
    (lambda: FeedforwardCircuit(3, 2, noise_site="dendrites"), "noise_site \\(--noise-site\\)"),
    (lambda: FeedforwardCircuit(3, 2, n_hidden=4, noise_site="synapses"), "single-layer linear"),
    (lambda: FeedforwardCircuit(3, 2, activation="tanh", noise_site="both"), "single-layer linear"),
    (lambda: FeedforwardCircuit(3, 2, encoder="deep"), "encoder \\(--encoder\\)"),
    (lambda: FeedforwardCircuit(3, 2, encoder="mlp", encoder_width=0), "encoder_width \\(--encoder-width\\)"),
    (lambda: FeedforwardCircuit(3, 2, encoder="mlp", noise_site="both"), "neuron noise only"),
    (lambda: RecurrentCircuit(3, 2, tau=-0.01), "tau"),
    (lambda: RecurrentCircuit(3, 2, dt=0.01), "dt"),
    (lambda: RecurrentCircuit(3, 2, variant="chaotic"), "variant"),
    (lambda: RecurrentCircuit(3, 2, n_inhibitory=2), "n_inhibitory"),
])
def test_bad_circuit_hyperparameters_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_mlp_encoder_is_the_written_network_and_starts_as_the_linear_circuit():
    """Mean M x + b + U tanh(W x + a); noise sds exp(log sigma + [V tanh(G x + g)]) for the
    representation neurons, then the hidden ones (multi-layer), computed here in NumPy."""
    x = np.array([[0.5, -1.0, 0.3], [1.5, 0.2, -0.7]])
    linear = FeedforwardCircuit(3, 2, noise_gating=True)
    mlp = FeedforwardCircuit(3, 2, noise_gating=True, encoder="mlp", encoder_width=5)
    start = mlp.init(jax.random.PRNGKey(0))
    same = {**linear.init(jax.random.PRNGKey(0)), "input_weights": start["input_weights"]}
    np.testing.assert_allclose(mlp.mean(start, jnp.asarray(x)), linear.mean(same, jnp.asarray(x)), rtol=1e-6)
    np.testing.assert_allclose(mlp.output_noise_std(start, jnp.asarray(x)),
                               linear.output_noise_std(same, jnp.asarray(x)), rtol=1e-6)

    deep = FeedforwardCircuit(3, 2, n_hidden=4, activation="relu", noise_gating=True, encoder="mlp", encoder_width=5)
    params = _perturbed_params(deep, jax.random.PRNGKey(1))
    p = {name: np.asarray(value, dtype=float) for name, value in params.items()}

    def network(head):
        return np.tanh(x @ p[f"{head}_encoder_weights"].T + p[f"{head}_encoder_bias"]) @ p[f"{head}_encoder_readout"].T

    hidden_mean = np.maximum(x @ p["input_weights"].T + p["input_bias"], 0)
    mean = hidden_mean @ p["readout_weights"].T + p["readout_bias"] + network("mean")
    gains = network("gate")
    own_sd = np.exp(p["log_noise_std"] + gains[:, :2])
    hidden_sd = np.exp(p["hidden_log_noise_std"] + gains[:, 2:])
    cov = np.stack([np.diag(own_sd[i] ** 2) + p["readout_weights"] @ np.diag(hidden_sd[i] ** 2)
                    @ p["readout_weights"].T for i in range(2)])
    np.testing.assert_allclose(deep.mean(params, jnp.asarray(x)), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(deep.response_covariance(params, jnp.asarray(x)), cov, rtol=1e-5, atol=1e-6)
    assert not np.allclose(cov[0], cov[1], rtol=0.05)  # the correlated part depends on the input


def test_synaptic_noise_is_weights_drawn_afresh_for_every_trial(rng):
    """Independent of the circuit's code: draw W ~ N(M, S^2) explicitly for every trial and
    take r = W x + b (plus the neurons' own noise for ``both``); the sample variance per
    neuron matches the circuit's exact variance, sigma_i^2 + sum_j S_ij^2 x_j^2, within 5 SE,
    and grows with the input where neuron noise does not."""
    for site in ("synapses", "both"):
        circuit = FeedforwardCircuit(3, 2, noise_site=site)
        params = _perturbed_params(circuit, jax.random.PRNGKey(3))
        x = np.array([[0.5, -1.0, 0.3], [1.5, 2.0, -0.7]])
        n = 20_000
        weights = (np.asarray(params["input_weights"])[None] + np.exp(np.asarray(params["input_log_weight_std"]))[None]
                   * rng.standard_normal((n, 2, 3)))
        own = np.exp(np.asarray(params["log_noise_std"])) if site == "both" else np.zeros(2)
        drawn = np.einsum("tkd,nd->ntk", weights, x) + own * rng.standard_normal((2, n, 2))
        exact = np.diagonal(np.asarray(circuit.response_covariance(params, jnp.asarray(x)), dtype=float),
                            axis1=-2, axis2=-1)
        assert np.all(np.abs(drawn.var(1, ddof=1) - exact) < 5 * exact * np.sqrt(2 / (n - 1))), site
        assert np.all(exact[1] > exact[0])  # the larger input drives more synaptic noise


def test_every_synapse_pays_its_own_cost_under_the_neurons_charge(rng):
    """Exact: the reliability term of a synaptic circuit under ``charge="neurons"`` is the
    cost summed over its synapses' sds (and its neurons' for ``both``), whatever the input."""
    from circuits.learning import Objective, TrainingConfig, loss_terms
    from circuits.reliability import PowerLawCost

    cost = PowerLawCost(0.5, 1.0, 0.3)
    for site in ("synapses", "both"):
        circuit = FeedforwardCircuit(3, 2, noise_site=site)
        params = _perturbed_params(circuit, jax.random.PRNGKey(4))
        objective = Objective(decoder=np.ones((3, 2)), decoding_precision=1.0, activity_cost=np.eye(2),
                              reliability=cost, charge="neurons")
        terms = loss_terms(circuit, params, objective, jnp.asarray(rng.normal(size=(5, 3))), jax.random.PRNGKey(0),
                           TrainingConfig())
        sds = [np.exp(np.asarray(params["input_log_weight_std"], dtype=float)).ravel()]
        if site == "both":
            sds.append(np.exp(np.asarray(params["log_noise_std"], dtype=float)))
        expected = sum(0.3 * np.sum(sd**-0.5) / 0.5 for sd in sds)
        assert float(terms["reliability_cost"]) == pytest.approx(expected, rel=1e-5), site
