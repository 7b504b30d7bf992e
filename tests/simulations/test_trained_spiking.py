"""Trained spiking circuits (``run trained-spiking``): the command, its refusals, and the Brian2
re-simulation of a trained circuit against the JAX simulation."""

import jax
import numpy as np
import pytest
from cli_checks import assert_refused

from circuits.escape_noise import EscapeNoiseCircuit, simulate_in_brian2
from simulations.results import parameters_of
from simulations.trained_spiking import run_trained_spiking


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    from simulations.cli import main
    from simulations.results import load

    out = tmp_path_factory.mktemp("spiking") / "spiking.nc"
    assert main(["run", "trained-spiking", "--quick", "--architecture", "recurrent", "--seed", "1", "--quiet",
                 "--out", str(out)]) == 0
    return load(out)


def test_a_quick_run_writes_its_readout_and_measures(quick_run):
    ds = quick_run
    assert ds.attrs["experiment"] == "trained-spiking"
    assert ds.sizes["step"] == 50 and ds.sizes["trial"] == 20 and ds.sizes["neuron"] == 16
    samples, counts = ds["samples"].values, ds["counts"].values
    circuit = EscapeNoiseCircuit(8, 16, 4, recurrent=True)
    np.testing.assert_allclose(samples, np.asarray(circuit.readout(parameters_of(ds), counts)), rtol=1e-5,
                               atol=1e-5)
    assert float(ds["mean_rate"]) == pytest.approx(counts.mean() / 0.1)
    assert ds["mean_rate"].attrs["units"] == "spikes/s" and ds["kl_true_posterior"].attrs["units"] == "nats"
    np.testing.assert_allclose(np.diag(ds["posterior_correlation"].values), 1.0)


@pytest.mark.parametrize("architecture", ["single-layer", "recurrent"])
def test_brian2_resimulation_agrees_with_the_jax_simulation(quick_run, architecture):
    """The trained recurrent circuit of the quick run (and a single-layer one with the same
    feed-forward weights), 2 stimuli x 400 trials in each simulator: every readout mean and
    variance agrees within 4 SE of the difference (16 comparisons, false alarm 1e-3; the
    issue's bar is 3 SE, which the note reports against)."""
    params = parameters_of(quick_run)
    circuit = EscapeNoiseCircuit(8, 16, 4, recurrent=architecture == "recurrent")
    if architecture == "single-layer":
        params.pop("recurrent_weights")
    x = quick_run["x"].values
    trials = 400
    jax_counts = np.asarray(circuit.simulate(params, x, jax.random.PRNGKey(7), trials)["counts"], dtype=float)
    brian_counts = simulate_in_brian2(circuit, params, x, trials, seed=7)
    z = {name: np.asarray(circuit.readout(params, counts), dtype=float)
         for name, counts in (("jax", jax_counts), ("brian2", brian_counts))}
    mean_se = np.sqrt(sum(v.var(1, ddof=1) / trials for v in z.values()))
    mean_z = (z["jax"].mean(1) - z["brian2"].mean(1)) / mean_se
    squared = {name: (v - v.mean(1, keepdims=True)) ** 2 for name, v in z.items()}
    variance_se = np.sqrt(sum(s.var(1, ddof=1) / trials for s in squared.values()))
    variance_z = (z["jax"].var(1, ddof=1) - z["brian2"].var(1, ddof=1)) / variance_se
    assert np.max(np.abs(mean_z)) < 4 and np.max(np.abs(variance_z)) < 4, (mean_z, variance_z)
    assert brian_counts.sum() > 1000  # the comparison is about spiking, not silence


@pytest.mark.parametrize(("argv", "message"), [
    (["--window", "0.0005"], "window must be at least one step"),
    (["--window", "0"], "--window: must be > 0"),
    (["--burn-in", "0.0015"], "burn_in must be a multiple of dt"),
    (["--neuron", "hodgkin-huxley"], "--neuron: invalid choice"),
    (["--noise-site", "dendrites"], "--noise-site: invalid choice"),
    (["--spike-cost", "-1"], "--spike-cost: must be >= 0"),
    (["--cost-strength", "0"], "--cost-strength: must be > 0"),
    (["--neurons", "0"], "--neurons: must be >= 1"),
    (["--cost", "power"], "the power cost needs an exponent"),
])
def test_bad_input_is_refused_before_any_work(tmp_path, capsys, argv, message):
    out = tmp_path / "spiking.nc"
    assert_refused(["run", "trained-spiking", "--seed", "1", "--out", str(out), *argv], message, out, capsys)


def test_the_experiment_function_names_its_bad_arguments():
    for kwargs, message in ((dict(neuron="lif"), "neuron"), (dict(task="gsm"), "task"),
                            (dict(noise_site="synapses"), "noise_site"), (dict(architecture="multi-layer"),
                                                                           "architecture"),
                            (dict(test_trials=1), "test_trials"), (dict(window=-0.1), "window")):
        with pytest.raises(ValueError, match=message):
            run_trained_spiking(seed=0, **kwargs)
