"""Trained spiking circuits (``run trained-spiking``): the command, its refusals, and the Brian2
re-simulation of a trained circuit against the JAX simulation."""

import json

import jax
import numpy as np
import pytest
from cli_checks import assert_refused

from circuits.escape_noise import EscapeNoiseCircuit, simulate_in_brian2
from circuits.release_lif import ReleaseLIFCircuit, simulate_release_lif_in_brian2
from simulations.results import parameters_of
from simulations.trained_spiking import run_trained_spiking, trained_spiking_circuit


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    from simulations.cli import main
    from simulations.results import load

    out = tmp_path_factory.mktemp("spiking") / "spiking.nc"
    assert main(["run", "trained-spiking", "--quick", "--architecture", "recurrent", "--seed", "1", "--quiet",
                 "--out", str(out)]) == 0
    return load(out)


@pytest.fixture(scope="module")
def quick_figure_runs():
    """The quick figure's four single-layer runs (both models, both tasks; 30 steps each)."""
    from simulations.figures.trained_spiking import train_runs

    return train_runs(1, quick=True)


@pytest.fixture(scope="module")
def quick_lif_run(quick_figure_runs):
    return quick_figure_runs[("lif", "linear-gaussian")]


def test_a_quick_run_writes_its_readout_and_measures(quick_run):
    ds = quick_run
    assert ds.attrs["experiment"] == "trained-spiking"
    assert ds.sizes["step"] == 50 and ds.sizes["trial"] == 20 and ds.sizes["neuron"] == 16
    samples, counts = ds["samples"].values, ds["counts"].values
    circuit = EscapeNoiseCircuit(8, 16, 4, recurrent=True)
    assert trained_spiking_circuit(ds)[0] == circuit
    np.testing.assert_allclose(samples, np.asarray(circuit.readout(parameters_of(ds), counts)), rtol=1e-5,
                               atol=1e-5)
    assert float(ds["mean_rate"]) == pytest.approx(counts.mean() / 0.1)
    assert ds["mean_rate"].attrs["units"] == "spikes/s" and ds["kl_true_posterior"].attrs["units"] == "nats"
    np.testing.assert_allclose(np.diag(ds["posterior_correlation"].values), 1.0)


def test_a_quick_lif_run_saves_its_synapses(quick_lif_run):
    ds = quick_lif_run
    config = json.loads(ds.attrs["config"])
    assert config["neuron"] == "lif" and config["noise_site"] == "synapses"
    circuit = ReleaseLIFCircuit(8, 16, 4)
    assert trained_spiking_circuit(ds)[0] == circuit
    params = parameters_of(ds)
    np.testing.assert_allclose(ds["samples"].values, np.asarray(circuit.readout(params, ds["counts"].values)),
                               rtol=1e-5, atol=1e-5)
    p = 1.0 / (1.0 + np.exp(-params["input_release_logit"]))
    np.testing.assert_allclose(ds["release_probability"].values, p, rtol=1e-6)
    np.testing.assert_allclose(ds["mean_input_weight"].values, p * params["input_quanta"], rtol=1e-5)
    assert "escape_width" not in ds and "recurrent_release_probability" not in ds


def test_rebuilding_a_circuit_refuses_other_results_files(quick_run):
    other = quick_run.copy()
    other.attrs["experiment"] = "linear-gaussian"
    with pytest.raises(ValueError, match="trained-spiking results file"):
        trained_spiking_circuit(other)


def test_recurrent_synapses_are_saved_without_autapses():
    from simulations.trained_spiking import _noise_source_variables

    circuit = ReleaseLIFCircuit(2, 3, 2, recurrent=True)
    params = circuit.init(jax.random.PRNGKey(0), release_probability=0.3)
    saved = _noise_source_variables(circuit, params)
    probability = saved["recurrent_release_probability"].values
    assert np.isnan(np.diag(probability)).all()
    np.testing.assert_allclose(probability[~np.eye(3, dtype=bool)], 0.3, rtol=1e-6)
    np.testing.assert_allclose(np.diag(saved["mean_recurrent_weight"].values), 0.0)


@pytest.mark.parametrize("neuron", ["escape", "lif"])
@pytest.mark.parametrize("architecture", ["single-layer", "recurrent"])
def test_brian2_resimulation_agrees_with_the_jax_simulation(quick_run, quick_lif_run, neuron, architecture):
    """The trained circuits of the quick runs, 2 stimuli x 400 trials in each simulator: every
    readout mean and variance agrees within 4 SE of the difference (16 comparisons, false
    alarm 1e-3; the issue's bar is 3 SE, which the note reports against). Escape noise: the
    trained recurrent circuit, and a single-layer one with its feed-forward weights. Release:
    the trained single-layer circuit, and a recurrent one with its feed-forward synapses and
    the initial recurrent ones, their quanta tripled so that recurrence changes the counts."""
    run, circuit_class, resimulate = {"escape": (quick_run, EscapeNoiseCircuit, simulate_in_brian2),
                                      "lif": (quick_lif_run, ReleaseLIFCircuit, simulate_release_lif_in_brian2)}[neuron]
    params = parameters_of(run)
    circuit = circuit_class(8, 16, 4, recurrent=architecture == "recurrent")
    if architecture == "single-layer":
        params = {name: value for name, value in params.items() if not name.startswith("recurrent_")}
    elif neuron == "lif":
        initial = circuit.init(jax.random.PRNGKey(3))
        params |= {"recurrent_quanta": 3.0 * np.asarray(initial["recurrent_quanta"]),
                   "recurrent_release_logit": np.asarray(initial["recurrent_release_logit"])}
    x = run["x"].values
    trials = 400
    jax_counts = np.asarray(circuit.simulate(params, x, jax.random.PRNGKey(7), trials)["counts"], dtype=float)
    brian_counts = resimulate(circuit, params, x, trials, seed=7)
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
    (["--neuron", "lif", "--noise-site", "neurons"], "noise_site 'neurons' is not built for neuron 'lif'"),
    (["--neuron", "lif", "--window", "0.0005"], "window must be at least one step"),
    (["--spike-cost", "-1"], "--spike-cost: must be >= 0"),
    (["--cost-strength", "0"], "--cost-strength: must be > 0"),
    (["--neurons", "0"], "--neurons: must be >= 1"),
    (["--cost-exponent", "0"], "--cost-exponent: must be > 0"),
])
def test_bad_input_is_refused_before_any_work(tmp_path, capsys, argv, message):
    out = tmp_path / "spiking.nc"
    assert_refused(["run", "trained-spiking", "--seed", "1", "--out", str(out), *argv], message, out, capsys)


def test_the_experiment_function_names_its_bad_arguments():
    for kwargs, message in ((dict(neuron="hodgkin-huxley"), "neuron"), (dict(task="boltzmann"), "task"),
                            (dict(noise_site="synapses"), "noise_site"),
                            (dict(neuron="lif", noise_site="neurons"), "noise_site"),
                            (dict(noise_site="dendrites"), "noise_site"),
                            (dict(architecture="multi-layer"), "architecture"),
                            (dict(test_trials=1), "test_trials"), (dict(window=-0.1), "window")):
        with pytest.raises(ValueError, match=message):
            run_trained_spiking(seed=0, **kwargs)


#: The reduced size of the default suite's check: 8 neurons, a 50 ms window, 16 inputs x 8 trials
#: per step (about 25 s per run instead of 4-5 min); training length as published (6000 steps).
SMALL = dict(n_neurons=8, window=0.05, trials=8, batch_size=16)


def test_at_a_small_size_the_readout_misses_the_bar_and_its_variance_falls_with_contrast():
    """The README's outcome at a reduced size, seed 1. Linear-Gaussian task: the readout's KL
    is above the issue's bar (the rate single-layer circuit's KL + 0.1 x the mean-field floor;
    measured 2.26 against 0.66 nats, where the KL's sampling sd at 400 trials is about 0.02).
    GSM: the readout's variance falls with contrast as the exact posterior's does (slope below 0
    by 3 bootstrap SEs: one-sided false alarm 1.3e-3), by much less (the README's size: about a
    tenth)."""
    lg = run_trained_spiking(1, progress=False, **SMALL)
    assert float(lg["kl_true_posterior"]) > float(lg["kl_bar"]) + 0.5, (float(lg["kl_true_posterior"]),
                                                                      float(lg["kl_bar"]))
    gsm = run_trained_spiking(1, task="gsm", compare_rate=False, progress=False, **SMALL)
    slope, se = float(gsm["readout_variance_slope"]), float(gsm["readout_variance_slope_se"])
    assert float(gsm["posterior_variance_slope"]) < 0 and slope + 3 * se < 0, (slope, se)
    assert abs(slope) < 0.5 * abs(float(gsm["posterior_variance_slope"]))


def test_at_a_small_size_release_noise_is_under_dispersed_and_grows_with_contrast():
    """The README's stochastic-release outcome at the reduced size, seed 1, 6000 steps (about
    35 s per run). Linear-Gaussian task: the readout's variance is under half the posterior's
    (measured 0.31; 0.23 at the default size), the neurons fire more regularly than Poisson
    (Fano 0.35), and stronger synapses are more reliable (correlation of log |p q| with
    logit p 0.68 over the 64 synapses, SE about 0.07; bar 0.3). GSM, 2000 steps (25 s): the
    readout's variance rises with contrast where the posterior's falls (measured slope
    +0.015 +- 0.0002 against -0.116; +0.027 at 6000 steps; bar: above 0 by 3 bootstrap SEs,
    one-sided false alarm 1.3e-3)."""
    lg = run_trained_spiking(1, neuron="lif", compare_rate=False, progress=False, **SMALL)
    assert float(lg["variance_ratio"]) < 0.5 and float(lg["fano_factor"]) < 0.6
    p, weight = lg["release_probability"].values.ravel(), np.abs(lg["mean_input_weight"].values.ravel())
    assert np.corrcoef(np.log(weight), np.log(p / (1 - p)))[0, 1] > 0.3
    gsm = run_trained_spiking(1, neuron="lif", task="gsm", steps=2000, compare_rate=False, progress=False, **SMALL)
    slope, se = float(gsm["readout_variance_slope"]), float(gsm["readout_variance_slope_se"])
    assert float(gsm["posterior_variance_slope"]) < 0 < slope - 3 * se, (slope, se)


@pytest.mark.slow
def test_the_trained_spiking_outcome_at_the_published_size():
    """The README's table: default sizes (16 neurons, 100 ms window, 6000 steps), seeds 1-3
    (about 30 minutes). Linear-Gaussian: single-layer and recurrent readouts above the bar on
    every seed (measured 0.41-1.50 against 0.34-0.66 nats), the recurrent one not below the
    mean-field floor, and the variance under-dispersed (ratio 0.55-0.84); GSM: the readout's
    variance slope below 0 on every seed. The single-layer KL is mostly the covariance's
    (0.79 of 0.99, 0.30 of 0.46, 1.15 of 1.50 nats). Seed 1 after 2000 steps passes below the
    floor (0.30 nats) at a higher objective than after 6000 (12.1 against 9.5 nats per input)."""
    for seed in (1, 2, 3):
        for architecture in ("single-layer", "recurrent"):
            ds = run_trained_spiking(seed, architecture=architecture, progress=False)
            assert float(ds["kl_true_posterior"]) > float(ds["kl_bar"]), (seed, architecture)
            assert float(ds["kl_true_posterior"]) > float(ds["mean_field_floor"]), (seed, architecture)
            assert float(ds["variance_ratio"]) < 0.9, (seed, architecture)
            if architecture == "single-layer":
                assert float(ds["kl_covariance_term"]) > 0.5 * float(ds["kl_true_posterior"]), seed
                if seed == 1:
                    converged = ds
                    assert float(ds["noise_correlation_rms_error"]) > 0.2  # the gallery's 0.42
        gsm = run_trained_spiking(seed, task="gsm", compare_rate=False, progress=False)
        assert float(gsm["readout_variance_slope"]) + 3 * float(gsm["readout_variance_slope_se"]) < 0, seed
    early = run_trained_spiking(1, steps=2000, compare_rate=False, progress=False)
    assert float(early["kl_true_posterior"]) < float(converged["mean_field_floor"])
    assert early["history_loss"].values[-500:].mean() > converged["history_loss"].values[-500:].mean() + 1.0


@pytest.fixture(scope="module")
def quick_figure(quick_figure_runs):
    from simulations.figures import FIGURES

    return FIGURES["trained-spiking"].build(seed=1, quick=True, runs=quick_figure_runs)


def test_the_figure_holds_both_models_with_units_and_reloads(tmp_path, quick_figure):
    from figure_checks import assert_reloads_to_same_plot

    from simulations.figures import FIGURES

    ds = quick_figure
    assert list(ds["model"].values) == ["escape", "lif"]
    assert ds["kl_true_posterior"].attrs["units"] == "nats" and ds["mean_rate"].attrs["units"] == "spikes/s"
    assert ds["time_step"].attrs["units"] == "s"
    spikes = ds["spikes"].values
    assert set(np.unique(spikes)) <= {0.0, 1.0} and spikes.sum() > 0
    assert np.isnan(ds["kl_bar"].values).all()  # quick: no rate circuit to compare with
    assert_reloads_to_same_plot(FIGURES["trained-spiking"], ds, tmp_path)



@pytest.mark.slow
def test_the_release_outcome_at_the_published_size():
    """The README's stochastic-release numbers, seed 1 at the defaults (about 25 minutes):
    KL above the bar (1.59 against 0.66 nats), variance ratio 0.23, Fano factor 0.27, median
    release probability 0.023, correlation of log |p q| with logit p 0.68, and the GSM
    readout's variance slope +0.016 against the posterior's -0.116."""
    lg = run_trained_spiking(1, neuron="lif", progress=False)
    assert float(lg["kl_true_posterior"]) > float(lg["kl_bar"])
    assert float(lg["variance_ratio"]) < 0.4 and float(lg["fano_factor"]) < 0.5
    p, weight = lg["release_probability"].values.ravel(), np.abs(lg["mean_input_weight"].values.ravel())
    assert np.median(p) < 0.05
    assert np.corrcoef(np.log(weight), np.log(p / (1 - p)))[0, 1] > 0.5
    assert float(lg["noise_correlation_rms_error"]) > 0.2  # the gallery's 0.33
    gsm = run_trained_spiking(1, neuron="lif", task="gsm", compare_rate=False, progress=False)
    assert float(gsm["readout_variance_slope"]) - 3 * float(gsm["readout_variance_slope_se"]) > 0


@pytest.mark.slow
def test_the_release_outcome_on_more_seeds_and_with_recurrence():
    """The README's release numbers beyond seed 1, at the defaults (about 2 h on one core).
    Measured 2026-12-06/07: seeds 2 and 3, KL 1.07 and 1.69 nats against bars 0.34 and 0.52,
    variance ratio 0.34 and 0.23, Fano factor 0.24 and 0.21; the recurrent circuit on seed 1,
    KL 1.58 against the bar 0.66 and the floor 0.58, recurrent release probabilities
    0.011-0.012, median recurrent |p q| 6.7e-4 against the input synapses' 0.016."""
    for seed in (2, 3):
        ds = run_trained_spiking(seed, neuron="lif", progress=False)
        assert float(ds["kl_true_posterior"]) > float(ds["kl_bar"]), seed
        assert float(ds["variance_ratio"]) < 0.4 and float(ds["fano_factor"]) < 0.5, seed
    recurrent = run_trained_spiking(1, neuron="lif", architecture="recurrent", progress=False)
    assert float(recurrent["kl_true_posterior"]) > float(recurrent["kl_bar"])
    assert float(recurrent["kl_true_posterior"]) > float(recurrent["mean_field_floor"])
    assert np.nanmax(recurrent["recurrent_release_probability"].values) < 0.02
    recurrent_weight = np.nanmedian(np.abs(recurrent["mean_recurrent_weight"].values))
    assert recurrent_weight < 0.1 * np.median(np.abs(recurrent["mean_input_weight"].values))
