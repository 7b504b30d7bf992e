"""The closed-form objective of linear circuits and its optimum, against exact answers.

False alarms: the Monte-Carlo comparisons use a 3-SE band (two-sided, about 0.3% each under
the CLT for 40 batch means; 6 cases, about 2% for the family); seeds are fixed, so a run
is never flaky, and the other tests compare with closed-form values.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import linalg

from analysis.generative import LinearGaussian
from circuits.feedforward import FeedforwardCircuit
from circuits.learning import Objective, TrainingConfig, loss_terms
from circuits.optimum import data_moments, expected_objective, optimal_circuit, optimal_input_map, response_moments
from circuits.recurrent import RecurrentCircuit
from circuits.reliability import LogCost, PowerLawCost

CIRCUITS = {
    "single-layer": FeedforwardCircuit(6, 3),
    "multi-layer": FeedforwardCircuit(6, 3, n_hidden=5),
    "recurrent": RecurrentCircuit(6, 3),
}


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(11)
    prior = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, -0.3], [0.0, -0.3, 1.0]])
    return LinearGaussian(rng.normal(size=(6, 3)), rng.uniform(0.5, 1.5, size=6), prior)


def _random_params(circuit, key):
    params = circuit.init(key)
    keys = jax.random.split(key, 4)
    params["input_bias"] = 0.3 * jax.random.normal(keys[0], params["input_bias"].shape)
    params["log_noise_std"] = params["log_noise_std"] + 0.3 * jax.random.normal(keys[1], params["log_noise_std"].shape)
    if "hidden_log_noise_std" in params:
        params["hidden_log_noise_std"] = params["hidden_log_noise_std"] + 0.3 * jax.random.normal(
            keys[2], params["hidden_log_noise_std"].shape)
    if "recurrent_weights" in params:
        params["recurrent_weights"] = 0.3 * jax.random.normal(keys[3], params["recurrent_weights"].shape)
    return params


@pytest.mark.parametrize("charge", ["responses", "local"])
@pytest.mark.parametrize("architecture", list(CIRCUITS))
def test_closed_form_matches_a_monte_carlo_estimate_of_the_training_objective(model, architecture, charge):
    """Catches a wrong term in either the closed form or the sampled loss (a missing trace, the
    hidden activity charged twice, the wrong stationary covariance)."""
    circuit = CIRCUITS[architecture]
    objective = Objective.for_linear_gaussian(model.A, model.noise_std, model.prior_cov, PowerLawCost(1.0),
                                              charge=charge)
    params = _random_params(circuit, jax.random.PRNGKey(3))
    rng = np.random.default_rng(5)
    batches, batch_size = 40, 500
    config = TrainingConfig(noise_samples=8, window_steps=20)
    evaluate = jax.jit(lambda x, key: loss_terms(circuit, params, objective, x, key, config)["loss"])
    estimates = [float(evaluate(jnp.asarray(model.sample(batch_size, rng)[1]), key))
                 for key in jax.random.split(jax.random.PRNGKey(9), batches)]
    standard_error = np.std(estimates, ddof=1) / np.sqrt(batches)
    exact = float(expected_objective(circuit, params, objective, np.zeros(6), model.marginal_cov)["loss"])
    assert abs(np.mean(estimates) - exact) < 3 * standard_error


@pytest.mark.parametrize("charge", ["responses", "local"])
@pytest.mark.parametrize("architecture", [*CIRCUITS, "narrow multi-layer"])
def test_profiled_input_map_is_a_stationary_point_of_the_objective(model, architecture, charge):
    """The closed-form input map minimises the objective for the other parameters as they are:
    the gradient with respect to the input weights and bias vanishes there (exactly, up to
    rounding), also with a learned decoder and precision and with fewer hidden than output
    neurons. Catches a wrong term in the formula (a missing activity cost, the wrong Gram
    matrix), which would leave the optimiser a worse circuit than the architecture allows."""
    circuit = FeedforwardCircuit(6, 3, n_hidden=2) if architecture == "narrow multi-layer" else CIRCUITS[architecture]
    rng = np.random.default_rng(4)
    objective = Objective(decoder=model.A, decoding_precision=1 / model.noise_std**2,
                          activity_cost=np.linalg.inv(model.prior_cov), reliability=LogCost(), charge=charge,
                          learn_decoder=True, learn_precision=True, precision_shape="diagonal")
    with jax.enable_x64(True):
        params = {name: jnp.asarray(value, dtype=jnp.float64)
                  for name, value in _random_params(circuit, jax.random.PRNGKey(2)).items()}
        params["decoder"] = jnp.asarray(model.A + 0.3 * rng.normal(size=model.A.shape))
        params["log_decoding_precision"] = jnp.asarray(rng.normal(size=6) * 0.3)
        if "readout_bias" in params:
            params["readout_bias"] = jnp.asarray(rng.normal(size=3))
        data_mean = jnp.asarray(rng.normal(size=6))
        second = jnp.asarray(model.marginal_cov) + jnp.outer(data_mean, data_mean)
        params = params | optimal_input_map(circuit, objective, params)

        def loss(input_map):
            return expected_objective(circuit, params | input_map, objective, data_mean, second)["loss"]

        gradient = jax.grad(loss)({name: params[name] for name in ("input_weights", "input_bias")})
    for name, value in gradient.items():
        np.testing.assert_allclose(np.asarray(value), 0, atol=1e-10, err_msg=name)


def test_recurrent_stationary_covariance_solves_the_discrete_lyapunov_equation():
    circuit = CIRCUITS["recurrent"]
    params = _random_params(circuit, jax.random.PRNGKey(1))
    F = np.asarray(circuit.euler_matrix(params), dtype=float)
    step_sd = np.asarray(circuit._noise_scale(params), dtype=float)
    expected = linalg.solve_discrete_lyapunov(F, np.diag(step_sd**2))
    np.testing.assert_allclose(np.asarray(response_moments(circuit, params)["covariance"]), expected, rtol=1e-4,
                               atol=1e-6)


def test_single_layer_optimum_is_the_mean_field_posterior(model):
    """Exact answer: the ELBO's mean-field optimum has the posterior mean and variances 1 / H_ii."""
    objective = Objective.for_linear_gaussian(model.A, model.noise_std, model.prior_cov, LogCost())
    params, _ = optimal_circuit(CIRCUITS["single-layer"], objective, np.zeros(6), model.marginal_cov,
                                jax.random.PRNGKey(0))
    precision = model.posterior_precision
    # Tolerances: L-BFGS stops where the objective changes by < 1e-13 relative per step.
    np.testing.assert_allclose(np.exp(2 * params["log_noise_std"]), 1 / np.diag(precision), rtol=1e-4)
    posterior_mean_map = model.posterior_cov @ model.A.T / model.noise_std**2
    np.testing.assert_allclose(params["input_weights"], posterior_mean_map, atol=1e-4)
    np.testing.assert_allclose(params["input_bias"], 0, atol=1e-5)


@pytest.mark.parametrize("architecture", ["multi-layer", "recurrent"])
def test_correlated_noise_optimum_reaches_the_negative_log_likelihood(model, architecture):
    """With the entropy charge the objective is the negative ELBO, whose minimum over a family that
    contains the posterior is -log p(x): per input, 1/2 (D log 2 pi + log det S_x + D), less the
    constants the objective leaves out (D/2 log 2 pi - 1/2 log det P - 1/2 log det Q - K/2)."""
    objective = Objective.for_linear_gaussian(model.A, model.noise_std, model.prior_cov, LogCost())
    _, terms = optimal_circuit(CIRCUITS[architecture], objective, np.zeros(6), model.marginal_cov,
                               jax.random.PRNGKey(0))
    n_obs, n_latent = model.A.shape
    negative_loglik = 0.5 * (n_obs * np.log(2 * np.pi) + np.linalg.slogdet(model.marginal_cov)[1] + n_obs)
    constants = (0.5 * n_obs * np.log(2 * np.pi) - 0.5 * np.sum(np.log(1 / model.noise_std**2))
                 - 0.5 * np.linalg.slogdet(model.prior_precision)[1] - 0.5 * n_latent)
    assert terms["loss"] == pytest.approx(negative_loglik - constants, abs=1e-4)


def test_local_charge_bounds_the_hidden_noise_that_the_neurons_charge_lets_grow(model):
    """Under 'neurons' a hidden neuron's sd can grow while its readout shrinks, for free; the local
    charge's hidden activity cost gives each an optimum: an unused hidden neuron (zero readout)
    minimises -log s + q_h s^2 / 2 at s = 1 / sqrt(q_h)."""
    circuit = FeedforwardCircuit(6, 3, n_hidden=8)
    objective = Objective.for_linear_gaussian(model.A, model.noise_std, model.prior_cov, LogCost(), charge="local",
                                              hidden_activity_cost=4.0)
    params, _ = optimal_circuit(circuit, objective, np.zeros(6), model.marginal_cov, jax.random.PRNGKey(0))
    hidden_sd = np.exp(params["hidden_log_noise_std"])
    assert np.all(np.isfinite(hidden_sd)) and np.all(hidden_sd <= 0.5 + 1e-4)
    unused = np.abs(params["readout_weights"]).max(axis=0) < 1e-3
    assert unused.any()
    np.testing.assert_allclose(hidden_sd[unused], 0.5, rtol=1e-3)
    # The degenerate charge: scaling a hidden sd up by c and its readout down by c lowers the cost.
    neurons = Objective.for_linear_gaussian(model.A, model.noise_std, model.prior_cov, LogCost(), charge="neurons")
    scaled = dict(params, hidden_log_noise_std=params["hidden_log_noise_std"] + np.log(10.0),
                  readout_weights=params["readout_weights"] / 10.0)
    scaled["input_weights"] = params["input_weights"] * 10.0
    scaled["input_bias"] = params["input_bias"] * 10.0
    moments, second = np.zeros(6), model.marginal_cov
    before = float(expected_objective(circuit, params, neurons, moments, second)["loss"])
    after = float(expected_objective(circuit, scaled, neurons, moments, second)["loss"])
    assert after < before - 8 * np.log(10.0) + 1e-6


def test_learned_isotropic_model_reaches_probabilistic_pca(model):
    """A single-layer linear circuit with a learned decoder and isotropic precision under the log
    cost is a linear VAE; its optimum's marginal covariance A A^T + I / P is the ML pPCA one
    (Tipping & Bishop 1999; Lucas et al. 2019), computed here from the eigendecomposition."""
    rng = np.random.default_rng(2)
    data = model.sample(5000, rng)[1]
    mean, second = data_moments(data)
    objective = Objective(decoder=rng.normal(size=(6, 2)), decoding_precision=1.0, activity_cost=np.eye(2),
                          reliability=LogCost(), learn_decoder=True, learn_precision=True)
    params, _ = optimal_circuit(FeedforwardCircuit(6, 2), objective, mean, second, jax.random.PRNGKey(0))
    eigenvalues = np.sort(np.linalg.eigvalsh(second))[::-1]
    noise_variance = eigenvalues[2:].mean()
    assert 1 / np.exp(params["log_decoding_precision"][0]) == pytest.approx(noise_variance, rel=1e-4)
    decoder = params["decoder"]
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(decoder.T @ decoder))[::-1],
                               eigenvalues[:2] - noise_variance, rtol=1e-4)


@pytest.mark.parametrize("circuit, objective_kwargs, match", [
    (FeedforwardCircuit(6, 3, activation="relu"), {}, "linear feed-forward"),
    (FeedforwardCircuit(6, 3, noise_gating=True), {}, "noise gating"),
    (RecurrentCircuit(6, 3, variant="supralinear", n_inhibitory=2), {}, "linear recurrent"),
    (FeedforwardCircuit(6, 3), dict(contrast_nodes=[0.5, 2.0], contrast_weights=[0.5, 0.5]), "single decoding node"),
    (FeedforwardCircuit(6, 3), dict(learn_decoder=True, decoder_norm=1.0), "decoder of free norm"),
])
def test_unsupported_circuits_are_refused(model, circuit, objective_kwargs, match):
    objective = Objective.for_linear_gaussian(model.A, model.noise_std, model.prior_cov, LogCost(), **objective_kwargs)
    with pytest.raises(ValueError, match=match):
        optimal_circuit(circuit, objective, np.zeros(6), model.marginal_cov, jax.random.PRNGKey(0))


def test_the_absolute_activity_cost_has_no_closed_form(model):
    objective = Objective(decoder=model.A, decoding_precision=1.0, activity_cost=np.eye(3), reliability=LogCost(),
                          activity_form="absolute")
    with pytest.raises(ValueError, match="quadratic activity cost"):
        optimal_circuit(FeedforwardCircuit(6, 3), objective, np.zeros(6), model.marginal_cov, jax.random.PRNGKey(0))
