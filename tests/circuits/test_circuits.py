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
    RecurrentCircuit(3, 2, noise_site="synapses"),
    RecurrentCircuit(3, 2, noise_site="both"),
]
#: Circuits whose responses are not Gaussian (noisy readout synapses on noisy hidden rates):
#: their sampled moments are checked in ``test_multilayer_synaptic_noise_is_both_layers_drawn_per_trial``.
NON_GAUSSIAN = [FeedforwardCircuit(3, 2, n_hidden=4, noise_site="synapses"),
                FeedforwardCircuit(3, 2, n_hidden=4, noise_site="both")]


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


@pytest.mark.parametrize("circuit", CIRCUITS + NON_GAUSSIAN, ids=repr)
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
    (lambda: FeedforwardCircuit(3, 2, n_hidden=4, activation="relu", noise_site="synapses"), "linear activation"),
    (lambda: FeedforwardCircuit(3, 2, activation="tanh", noise_site="both"), "linear activation"),
    (lambda: FeedforwardCircuit(3, 2, encoder="deep"), "encoder \\(--encoder\\)"),
    (lambda: FeedforwardCircuit(3, 2, encoder="mlp", encoder_width=0), "encoder_width \\(--encoder-width\\)"),
    (lambda: FeedforwardCircuit(3, 2, encoder="mlp", noise_site="both"), "neuron noise only"),
    (lambda: RecurrentCircuit(3, 2, tau=-0.01), "tau"),
    (lambda: RecurrentCircuit(3, 2, dt=0.01), "dt"),
    (lambda: RecurrentCircuit(3, 2, variant="chaotic"), "variant"),
    (lambda: RecurrentCircuit(3, 2, n_inhibitory=2), "n_inhibitory"),
    (lambda: RecurrentCircuit(3, 2, noise_site="axons"), "noise_site \\(--noise-site\\)"),
    (lambda: RecurrentCircuit(3, 2, variant="supralinear", n_inhibitory=1, noise_site="both"), "linear variant"),
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


def test_multilayer_synaptic_noise_is_both_layers_drawn_per_trial(rng):
    """Independent of the circuit's code: draw both layers' weights explicitly for every trial,
    h = W1 x + b1 (+ the hidden neurons' own noise for ``both``), r = W2 h + b2 (+ the
    representation neurons' own noise). The circuit's exact mean and covariance match these
    draws' and the circuit's own samples' within 5 SE, with SEs from the samples' fourth
    moments (the responses are not Gaussian: products of Gaussians). 2 x (2 + 3) numbers per
    sampler, two-sided false alarm 6e-7 each."""
    x = np.array([[0.5, -1.0, 0.3], [1.5, 2.0, -0.7]])
    n = 40_000
    for site in ("synapses", "both"):
        circuit = FeedforwardCircuit(3, 2, n_hidden=4, noise_site=site)
        params = _perturbed_params(circuit, jax.random.PRNGKey(5))
        p = {name: np.asarray(value, dtype=float) for name, value in params.items()}
        w1 = p["input_weights"] + np.exp(p["input_log_weight_std"]) * rng.standard_normal((2, n, 4, 3))
        hidden = np.einsum("ntkd,nd->ntk", w1, x) + p["input_bias"]
        w2 = p["readout_weights"] + np.exp(p["readout_log_weight_std"]) * rng.standard_normal((2, n, 2, 4))
        if site == "both":
            hidden = hidden + np.exp(p["hidden_log_noise_std"]) * rng.standard_normal((2, n, 4))
        drawn = np.einsum("ntkh,nth->ntk", w2, hidden) + p["readout_bias"]
        if site == "both":
            drawn = drawn + np.exp(p["log_noise_std"]) * rng.standard_normal((2, n, 2))
        sampled = np.asarray(circuit.sample(params, jnp.asarray(x), jax.random.PRNGKey(6), n)["responses"], float)
        mean = np.asarray(circuit.mean(params, jnp.asarray(x)), dtype=float)
        cov = np.asarray(circuit.response_covariance(params, jnp.asarray(x)), dtype=float)
        assert not circuit.has_gaussian_responses
        for responses in (drawn, sampled):
            centred = responses - mean[:, None, :]
            for i, j in ((0, 0), (1, 1), (0, 1)):
                products = centred[..., i] * centred[..., j]
                se = products.std(1, ddof=1) / np.sqrt(n)
                assert np.all(np.abs(products.mean(1) - cov[:, i, j]) < 5 * se), (site, i, j)
            assert np.all(np.abs(responses.mean(1) - mean) < 5 * responses.std(1, ddof=1) / np.sqrt(n)), site
        assert np.all(cov[1].diagonal() > cov[0].diagonal())  # the larger input drives more synaptic noise


def test_recurrent_synaptic_noise_is_input_weights_drawn_per_trial(rng):
    """Independent of the circuit's code: with ``synapses`` the neurons are noiseless, so each
    trial settles at (I - W)^-1 (W_in x + b) for its own draw W_in ~ N(M, S^2). The sample
    covariance of those fixed points matches the circuit's exact Cov(r | x) within 5 SE (a
    Gaussian: sd of a variance var sqrt(2 / (n - 1))); and the circuit's own trials, started
    from each trial's stationary state, stay there."""
    circuit = RecurrentCircuit(3, 2, noise_site="synapses")
    params = _perturbed_params(circuit, jax.random.PRNGKey(8))
    p = {name: np.asarray(value, dtype=float) for name, value in params.items()}
    x = np.array([[0.5, -1.0, 0.3], [1.5, 2.0, -0.7]])
    n = 20_000
    w_in = p["input_weights"] + np.exp(p["input_log_weight_std"]) * rng.standard_normal((2, n, 2, 3))
    drive = np.einsum("ntkd,nd->ntk", w_in, x) + p["input_bias"]
    recurrent = p["recurrent_weights"] * (1 - np.eye(2))
    fixed_points = np.linalg.solve(np.eye(2) - recurrent, drive[..., None])[..., 0]
    cov = np.asarray(circuit.response_covariance(params, jnp.asarray(x)), dtype=float)
    drawn_var = fixed_points.var(1, ddof=1)
    exact_var = np.diagonal(cov, axis1=-2, axis2=-1)
    assert np.all(np.abs(drawn_var - exact_var) < 5 * exact_var * np.sqrt(2 / (n - 1)))
    trials = np.asarray(circuit.simulate(params, jnp.asarray(x), jax.random.PRNGKey(9), 4, 30, initial="stationary",
                                         record_from=0), dtype=float)  # (stimulus, trial, step, neuron)
    np.testing.assert_allclose(trials, np.broadcast_to(trials[:, :, :1], trials.shape), rtol=1e-5)  # float32 steps
    assert np.all(exact_var[1] > exact_var[0])


def test_every_synapse_of_a_multilayer_or_recurrent_circuit_pays_its_own_cost(rng):
    """Exact: under ``charge="local"`` the reliability term is the cost summed over every
    synapse's sd (both layers, or the recurrent circuit's input synapses) and every noisy
    neuron's, whatever the input; and the response-entropy charge refuses a multi-layer
    circuit with noisy synapses, whose responses are not Gaussian."""
    from circuits.learning import Objective, TrainingConfig, loss_terms, train
    from circuits.reliability import PowerLawCost

    cost = PowerLawCost(0.5, 1.0, 0.3)
    x = jnp.asarray(rng.normal(size=(5, 3)))
    for circuit in (FeedforwardCircuit(3, 2, n_hidden=4, noise_site="synapses"),
                    FeedforwardCircuit(3, 2, n_hidden=4, noise_site="both"),
                    RecurrentCircuit(3, 2, noise_site="synapses"), RecurrentCircuit(3, 2, noise_site="both")):
        params = _perturbed_params(circuit, jax.random.PRNGKey(4))
        objective = Objective(decoder=np.ones((3, 2)), decoding_precision=1.0, activity_cost=np.eye(2),
                              reliability=cost, charge="local")
        terms = loss_terms(circuit, params, objective, x, jax.random.PRNGKey(0), TrainingConfig(window_steps=3))
        names = [name for name in params if "log_noise_std" in name or "log_weight_std" in name]
        expected = sum(0.3 * np.sum(np.exp(np.asarray(params[name], dtype=float)) ** -0.5) / 0.5 for name in names)
        expected_names = {"input_log_weight_std", "readout_log_weight_std"} if isinstance(
            circuit, FeedforwardCircuit) else {"input_log_weight_std"}
        if circuit.noise_site == "both":
            expected_names |= {"log_noise_std", "hidden_log_noise_std"} if isinstance(
                circuit, FeedforwardCircuit) else {"log_noise_std"}
        assert set(names) == expected_names, circuit
        assert float(terms["reliability_cost"]) == pytest.approx(expected, rel=1e-5), circuit
    entropy = Objective(decoder=np.ones((3, 2)), decoding_precision=1.0, activity_cost=np.eye(2), reliability=cost)
    with pytest.raises(ValueError, match="needs Gaussian responses"):
        train(FeedforwardCircuit(3, 2, n_hidden=4, noise_site="synapses"), entropy, np.ones((4, 3)),
              jax.random.PRNGKey(0), TrainingConfig(steps=1), progress=False)


def test_weights_drawn_once_per_minibatch_are_shared_and_leave_each_response_distribution_unchanged():
    """``weight_draws="minibatch"``: every input and sample of one call sees the same synapses
    (with ``synapses`` alone the responses to one input are identical and exactly W x + b), and
    over many calls each response has the circuit's exact mean and variance (5 SE over 4000
    calls, 2 x 2 variances per circuit; Gaussian SE, the single-layer and recurrent responses
    being Gaussian)."""
    x = jnp.array([[0.5, -1.0, 0.3], [1.5, 2.0, -0.7]])
    for circuit in (FeedforwardCircuit(3, 2, noise_site="synapses"), FeedforwardCircuit(3, 2, noise_site="both"),
                    RecurrentCircuit(3, 2, noise_site="both")):
        params = _perturbed_params(circuit, jax.random.PRNGKey(10))

        def draw(key, circuit=circuit, params=params):
            if isinstance(circuit, RecurrentCircuit):
                return circuit.simulate(params, x, key, 3, 1, initial="stationary", weight_draws="minibatch")
            return circuit.sample(params, x, key, 3, weight_draws="minibatch")["responses"]

        one = np.asarray(draw(jax.random.PRNGKey(11)), dtype=float)
        if circuit.noise_site == "synapses":
            np.testing.assert_allclose(one, np.broadcast_to(one[:, :1], one.shape), rtol=1e-6)
        calls = np.asarray(jax.vmap(draw)(jax.random.split(jax.random.PRNGKey(12), 4000))[:, :, 0], dtype=float)
        exact = np.diagonal(np.asarray(circuit.response_covariance(params, x), dtype=float), axis1=-2, axis2=-1)
        n = calls.shape[0]
        assert np.all(np.abs(calls.var(0, ddof=1) - exact) < 5 * exact * np.sqrt(2 / (n - 1))), circuit
    synaptic = FeedforwardCircuit(3, 2, noise_site="synapses")
    with pytest.raises(ValueError, match="weight_draws"):
        synaptic.sample(synaptic.init(jax.random.PRNGKey(0)), x, jax.random.PRNGKey(0), 2, weight_draws="epoch")


def test_drawing_synapses_once_per_minibatch_leaves_the_expected_objective_unchanged(rng):
    """The published protocol draws the weights once per minibatch: each example's loss is
    still an expectation over its own weights, so the objective's expectation is the same and
    only its spread across steps grows. Mean over 3000 noise keys for both, within 5 SE of
    their difference (two-sided false alarm 6e-7 per circuit)."""
    from circuits.learning import Objective, TrainingConfig, loss_terms
    from circuits.reliability import LogCost

    x = jnp.asarray(rng.normal(size=(8, 3)))
    objective = Objective(decoder=rng.normal(size=(3, 2)), decoding_precision=1.0, activity_cost=np.eye(2),
                          reliability=LogCost(1.0), charge="local")
    keys = jax.random.split(jax.random.PRNGKey(13), 3000)
    for circuit in (FeedforwardCircuit(3, 2, noise_site="synapses"),
                    FeedforwardCircuit(3, 2, n_hidden=4, noise_site="both"), RecurrentCircuit(3, 2, noise_site="both")):
        params = _perturbed_params(circuit, jax.random.PRNGKey(14))
        losses = {}
        for draws in ("trial", "minibatch"):
            config = TrainingConfig(noise_samples=2, window_steps=2, synapse_draws=draws)
            losses[draws] = np.asarray(jax.vmap(
                lambda key, config=config, circuit=circuit, params=params: loss_terms(
                    circuit, params, objective, x, key, config)["loss"])(keys), dtype=float)
        se = np.sqrt(sum(loss.var(ddof=1) for loss in losses.values()) / len(keys))
        assert abs(losses["trial"].mean() - losses["minibatch"].mean()) < 5 * se, circuit
        assert losses["minibatch"].std() > losses["trial"].std(), circuit  # one draw for all: a noisier estimate
