"""LIF circuits with stochastic release, against exact values: a hand-computed trial, every
release pattern enumerated, and finite differences of the enumerated expected objective for
the parameters whose gradient is unbiased (release probabilities, readout)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gradient_checks import central_differences
from scipy import stats

from circuits.learning import Objective
from circuits.release_lif import ReleaseLIFCircuit
from circuits.reliability import PowerLawCost
from circuits.spiking_learning import SpikingObjective, expected_loss_by_enumeration, surrogate_loss

DT = 0.001
#: The parameters whose gradient the estimator claims to be unbiased.
UNBIASED = ("input_release_logit", "recurrent_release_logit", "readout_weights", "readout_bias")


def tiny(recurrent=False):
    """3 neurons x 1 input x 4 steps (12 release bits), or recurrent: 2 neurons x 1 input x
    3 steps (2 input + 2 recurrent draws per step, 12 bits)."""
    if recurrent:
        return ReleaseLIFCircuit(1, 2, 2, recurrent=True, burn_in=DT, window=2 * DT)
    return ReleaseLIFCircuit(1, 3, 2, burn_in=2 * DT, window=2 * DT)


def params_for(circuit):
    """Strong quanta so that a step's release decides whether a neuron crosses threshold."""
    with jax.enable_x64(True):
        params = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in circuit.init(jax.random.PRNGKey(0)).items()}
        params["input_bias"] = params["input_bias"] + 18.0
        params["input_quanta"] = jnp.asarray([[8.0], [-10.0], [12.0]][:circuit.n_neurons])
        if circuit.recurrent:
            params["recurrent_quanta"] = jnp.asarray([[0.0, 15.0], [-12.0, 0.0]])
            params["recurrent_release_logit"] = jnp.asarray([[0.0, 0.5], [-0.3, 0.0]])
    return params


def objective():
    rng = np.random.default_rng(0)
    return SpikingObjective(Objective(rng.normal(size=(2, 2)), 1.0, np.eye(2), PowerLawCost(2.0, 1.0, 0.1)),
                            spike_cost=0.1, drive_cost=0.05)


@pytest.mark.parametrize("change, message", [
    (dict(window=0.0005), "window"), (dict(reference_rate=0.0), "reference_rate"),
    (dict(surrogate_steepness=-1.0), "surrogate_steepness"), (dict(n_input=0), "n_input"),
])
def test_bad_hyperparameters_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        ReleaseLIFCircuit(**(dict(n_input=2, n_neurons=3, n_latent=2) | change))


@pytest.mark.parametrize("probability", [0.0, 1.0, 1.5, -0.2])
def test_release_probabilities_outside_the_open_interval_are_refused(probability):
    with pytest.raises(ValueError, match="release_probability"):
        tiny().init(jax.random.PRNGKey(0), release_probability=probability)


def test_one_trial_against_hand_computation():
    """1 neuron, 1 input, 3 steps, releases (1, 0, 1): v = 0.05 (1.2 + 25 x 0.8) = 1.06 fires
    and resets; then 0.05 x 1.2 = 0.06; then 0.06 + 0.05 (21.2 - 0.06) = 1.117 fires. The
    log-probability is 2 log p + log(1 - p)."""
    circuit = ReleaseLIFCircuit(1, 1, 1, burn_in=DT, window=2 * DT)
    with jax.enable_x64(True):
        params = {"input_quanta": jnp.array([[25.0]]), "input_release_logit": jnp.array([[0.4]]),
                  "input_bias": jnp.array([1.2]), "readout_weights": jnp.array([[2.0]]),
                  "readout_bias": jnp.array([0.5])}
        releases = np.array([1.0, 0.0, 1.0]).reshape(1, 1, 3, 1)
        log_prob, counts = circuit.log_prob(params, np.array([[0.8]]), releases)
        readout = float(circuit.readout(params, counts)[0, 0, 0])
        scales = np.asarray(circuit.noise_scales(params))
        drive = np.asarray(circuit.drive(params, np.array([[0.8]])))
    p = 1.0 / (1.0 + np.exp(-0.4))
    np.testing.assert_allclose(float(log_prob[0, 0]), 2 * np.log(p) + np.log(1 - p), rtol=1e-12)
    assert float(counts[0, 0, 0]) == 1.0  # the window (steps 2 and 3) holds the third step's spike
    np.testing.assert_allclose(readout, 0.5 + 2.0 * 1 / 0.002 / 100.0, rtol=1e-12)
    np.testing.assert_allclose(scales, np.sqrt((1 - p) / p), rtol=1e-12)
    np.testing.assert_allclose(drive, [[1.2 + p * 25 * 0.8]], rtol=1e-12)


def test_simulated_counts_follow_the_enumerated_distribution():
    """Recurrent, 2 neurons: the exact distribution of the window counts (every one of the
    2^12 release patterns, probabilities summing to 1) against 200,000 simulated trials,
    chi-square p > 1e-4 (false alarm 1e-4)."""
    circuit = tiny(recurrent=True)
    params = params_for(circuit)
    x = np.array([[0.8]])
    bits = circuit.events_per_step * circuit.n_steps
    patterns = np.array([[(index >> bit) & 1 for bit in range(bits)] for index in range(2**bits)], dtype=float)
    with jax.enable_x64(True):
        log_prob, counts = circuit.log_prob(params, x, patterns.reshape(1, -1, circuit.n_steps,
                                                                          circuit.events_per_step))
        simulated = np.asarray(circuit.simulate(params, x, jax.random.PRNGKey(3), 200_000)["counts"][0])
    probability = np.exp(np.asarray(log_prob[0]))
    np.testing.assert_allclose(probability.sum(), 1.0, rtol=1e-12)

    def code(counts_):  # counts are 0-2 per neuron
        return (counts_[:, 0] * 3 + counts_[:, 1]).astype(int)

    expected = np.bincount(code(np.asarray(counts[0])), weights=probability, minlength=9) * len(simulated)
    observed = np.bincount(code(simulated), minlength=9)
    assert (expected > 0).sum() >= 3  # the releases change the counts
    used = expected > 0
    assert observed[~used].sum() == 0
    assert stats.chisquare(observed[used], expected[used]).pvalue > 1e-4


def _estimates_and_finite_differences(circuit, n_estimates=4000, trials=16):
    with jax.enable_x64(True):
        params = params_for(circuit)
        spiking_objective = objective()
        x = jnp.asarray([0.8])
        exact = jax.jit(lambda p: expected_loss_by_enumeration(circuit, spiking_objective, p, x))
        finite_difference = central_differences(exact, params)
        estimate = jax.jit(jax.vmap(lambda key: jax.grad(
            lambda p: surrogate_loss(circuit, spiking_objective, p, x[None], key, trials)[0])(params)))
        draws = estimate(jax.random.split(jax.random.PRNGKey(1), n_estimates))
    draws = {name: np.asarray(value).reshape(n_estimates, -1) for name, value in draws.items()}
    return params, spiking_objective, draws, finite_difference


@pytest.mark.parametrize("recurrent", [False, True])
def test_release_probability_and_readout_gradients_are_unbiased(recurrent):
    """The mean of 4000 estimates (16 trials each) against central finite differences of the
    exactly enumerated objective, for the release logits and the readout: within 3 SE along
    the exact gradient's direction (the issue's bar; false alarm 0.27%) and every component
    within 4 SE (Bonferroni over at most 13 components: 8e-4). The recurrent diagonal (no
    autapses) is exactly 0 in both."""
    circuit = tiny(recurrent)
    _, _, draws, finite_difference = _estimates_and_finite_differences(circuit)
    names = [name for name in UNBIASED if name in draws]
    sample = np.concatenate([draws[name] for name in names], axis=1)
    reference = np.concatenate([finite_difference[name] for name in names])
    se = sample.std(0, ddof=1) / np.sqrt(len(sample))
    fixed = se == 0
    assert fixed.sum() == (2 if recurrent else 0)
    np.testing.assert_array_equal(np.append(sample.mean(0)[fixed], reference[fixed]), 0.0)
    z = (sample.mean(0) - reference)[~fixed] / se[~fixed]
    assert np.max(np.abs(z)) < 4.0, z
    direction = reference / np.linalg.norm(reference)
    projected = sample @ direction
    z_direction = (projected.mean() - reference @ direction) / (projected.std(ddof=1) / np.sqrt(len(sample)))
    assert abs(z_direction) < 3.0, z_direction


def test_the_expected_objective_is_flat_in_the_quanta_up_to_the_drive_cost():
    """Given the releases, a hard threshold makes the spike counts piecewise constant in the
    quanta and biases, so the exact expected objective changes with them only through the
    mean drive's cost: its finite difference is 0.05 x I x p x (the drive cost's derivative),
    while the surrogate estimate is not. This is the documented bias: the surrogate is a
    learning signal, not a derivative."""
    circuit = tiny()
    params, spiking_objective, draws, finite_difference = _estimates_and_finite_differences(circuit,
                                                                                            n_estimates=500)
    p = 1.0 / (1.0 + np.exp(-np.asarray(params["input_release_logit"]).ravel()))
    drive = np.asarray(params["input_bias"]) + p * np.asarray(params["input_quanta"]).ravel() * 0.8
    np.testing.assert_allclose(finite_difference["input_quanta"], 0.05 * drive * p * 0.8, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(finite_difference["input_bias"], 0.05 * drive, rtol=1e-5, atol=1e-8)
    surrogate = draws["input_quanta"].mean(0)
    se = draws["input_quanta"].std(0, ddof=1) / np.sqrt(len(draws["input_quanta"]))
    assert np.max(np.abs(surrogate - finite_difference["input_quanta"]) / se) > 10
