"""Stochastic synapses: the sampled outputs against their exact moments, the two sampling
protocols, and the validation of the network's hyperparameters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from circuits.reliability import PowerLawCost
from circuits.synapses import (
    SynapseTraining,
    SynapticNetwork,
    SynapticObjective,
    optimal_weight_variance,
    train_synapses,
)


def _params(network, rng):
    params = network.init(jax.random.PRNGKey(0))
    return {name: jnp.asarray(rng.normal(size=np.shape(value)) * (0.5 if name.startswith("log") else 1.0) - (
        1.0 if name.startswith("log") else 0.0)) for name, value in params.items()}


def test_per_example_weights_give_outputs_with_the_exact_moments(rng):
    """Given x, a linear layer's output under w ~ N(mu, sigma^2) is N(mu . x + b,
    sum sigma^2 x^2): the sample mean and variance of 20000 draws within 5 SE of both
    (false alarm 6e-7 per moment and output)."""
    network = SynapticNetwork((5, 3))
    params = _params(network, rng)
    x = jnp.asarray(rng.normal(size=(1, 5)))
    draws = np.asarray(jax.vmap(lambda key: network.sample_output(params, x, key)[0])(
        jax.random.split(jax.random.PRNGKey(1), 20_000)), dtype=float)
    mean = np.asarray(x @ params["weight_mean_0"].T + params["bias_0"], dtype=float)[0]
    variance = np.asarray(x**2 @ jnp.exp(2 * params["log_weight_std_0"]).T, dtype=float)[0]
    n = draws.shape[0]
    assert np.all(np.abs(draws.mean(0) - mean) < 5 * np.sqrt(variance / n))
    assert np.all(np.abs(draws.var(0, ddof=1) - variance) < 5 * variance * np.sqrt(2 / (n - 1)))


def test_per_example_draws_are_independent_and_a_minibatch_shares_one_draw(rng):
    """Exact: with one weight draw per minibatch and no bias, the output is linear in the input
    across the batch (x and 2x give outputs in ratio 2); with draws per example it is not."""
    network = SynapticNetwork((4, 2))
    params = {**_params(network, rng), "bias_0": jnp.zeros(2)}
    x = jnp.asarray(rng.normal(size=(1, 4)))
    batch = jnp.concatenate([x, 2 * x])
    shared = np.asarray(network.sample_output(params, batch, jax.random.PRNGKey(2), per="minibatch"))
    np.testing.assert_allclose(shared[1], 2 * shared[0], rtol=1e-5)
    fresh = np.asarray(network.sample_output(params, batch, jax.random.PRNGKey(2), per="example"))
    assert not np.allclose(fresh[1], 2 * fresh[0], rtol=1e-2)


def test_uniform_noise_is_one_sd_for_every_synapse_of_every_layer(rng):
    network = SynapticNetwork((3, 4, 2), noise="uniform")
    params = network.init(jax.random.PRNGKey(0), noise_std=0.2)
    stds = network.weight_std(params)
    assert [s.shape for s in stds] == [(4, 3), (2, 4)]
    for std in stds:
        np.testing.assert_allclose(np.asarray(std), 0.2, rtol=1e-6)
    assert network.n_synapses == 20


def test_the_objective_charges_every_synapse_its_own_cost(rng):
    """Exact: the reliability term is sum over synapses of c sigma^-rho."""
    network = SynapticNetwork((3, 2))
    params = _params(network, rng)
    cost = PowerLawCost(0.5, 1.0, 0.5 * 0.01)
    terms = SynapticObjective("squared", cost).terms(network, params, jnp.ones((2, 3)), jnp.ones((2, 2)),
                                                     jax.random.PRNGKey(0))
    sigma = np.exp(np.asarray(params["log_weight_std_0"], dtype=float))
    assert float(terms["reliability_cost"]) == pytest.approx(np.sum(0.01 * sigma**-0.5), rel=1e-5)


def test_optimal_variance_solves_the_first_order_condition():
    """sigma^(2 + rho) = rho c / H: the derivative of 1/2 H sigma^2 + c sigma^-rho vanishes there."""
    hessian = np.array([0.01, 1.0, 100.0])
    for rho in (0.5, 2 / 3, 4 / 3, 2.0):
        sigma = np.sqrt(optimal_weight_variance(hessian, PowerLawCost(rho, 1.0, rho * 1e-3)))
        np.testing.assert_allclose(hessian * sigma, rho * 1e-3 * sigma ** (-rho - 1), rtol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(layer_sizes=(3,)), "layer_sizes needs"),
    (dict(layer_sizes=(3, 0)), "layer_sizes\\[1\\]"),
    (dict(layer_sizes=(3, 2), noise="per-neuron"), "noise \\(--noise\\)"),
    (dict(layer_sizes=(3, 2), max_weight_std=0.0), "max_weight_std"),
])
def test_bad_networks_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SynapticNetwork(**kwargs)


def test_bad_objectives_and_training_are_refused():
    with pytest.raises(ValueError, match="loss"):
        SynapticObjective("hinge", PowerLawCost(1.0))
    with pytest.raises(ValueError, match="per"):
        SynapticObjective("squared", PowerLawCost(1.0), per="epoch")
    with pytest.raises(ValueError, match="batch_size"):
        SynapseTraining(batch_size=0)
    with pytest.raises(ValueError, match="std_learning_rate"):
        SynapseTraining(std_learning_rate=-0.1)
    with pytest.raises(ValueError, match="below max_weight_std"):
        SynapticNetwork((3, 2), max_weight_std=0.5).init(jax.random.PRNGKey(0), noise_std=0.5)


def test_a_bounded_sd_starts_where_asked_and_never_passes_the_bound(rng):
    network = SynapticNetwork((3, 2), max_weight_std=0.5)
    np.testing.assert_allclose(np.asarray(network.weight_std(network.init(jax.random.PRNGKey(0), 0.2))[0]), 0.2,
                               rtol=1e-6)
    log_std = jnp.asarray([-30.0, 0.0, 30.0])
    np.testing.assert_allclose(np.asarray(network._std(log_std)), [np.exp(-30.0), 1 / 3, 0.5], rtol=1e-6)


def test_an_ignored_synapse_goes_to_the_bound_and_the_others_to_their_optimum():
    """A power cost keeps falling as sigma grows: a synapse from an input that is always 0 has
    no finite optimum and ends at the bound, while the used synapses reach the closed form
    sigma^(2 + rho) = rho c / H (the bound reparameterises the sd, so an optimum below it does
    not move). The sds take 10 times the means' steps: at the means' step size the ignored sd
    stopped at 0.91 after these steps (measured)."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20_000, 3)) * np.array([0.5, 2.0, 0.0])
    y = x @ np.array([1.0, -1.0, 0.0]) + rng.normal(size=20_000)
    network = SynapticNetwork((3, 1), max_weight_std=5.0)
    cost = PowerLawCost(2.0, 1.0, 2.0 * 1e-3)
    training = SynapseTraining(steps=4000, batch_size=512, learning_rate=0.03, std_learning_rate=0.3)
    params, _ = train_synapses(network, SynapticObjective("squared", cost), x, y[:, None], jax.random.PRNGKey(1),
                               training)
    sigma = np.asarray(network.weight_std(params)[0][0], dtype=float)
    assert sigma[2] > 0.95 * 5.0
    optimum = np.sqrt(optimal_weight_variance(np.mean(x[:, :2] ** 2, axis=0), cost))
    np.testing.assert_allclose(sigma[:2], optimum, rtol=0.05)
