"""`sampling-circuits run synapses --task regression`: stochastic synapses of a linear model
with a quadratic loss, whose diagonal Hessian is exact, against the closed-form optimum
sigma^(2 + rho) = rho c / H (Malkin et al. 2024).

Measured on seeds 1-3 (2026-12-06): the slope of log sigma^2 on log H is within 0.0003 of
-2 / (2 + rho) for all four exponents, and every sd within 0.9% of its optimum; the issue's
bar is 0.03 on the slope, 100 times that deviation, and 5% on each sd over five times it.
Uniform noise: the slope of log sigma on log c within 0.0001 of 1 / (2 + rho).
"""

import warnings

import numpy as np
import pytest
from cli_checks import assert_refused
from figure_checks import assert_reloads_to_same_plot

from analysis.synapse_data import log_log_fit, loglog_slope
from simulations.cli import main
from simulations.figures import synapse_cost, synapse_data
from simulations.results import config_of, load
from simulations.synapse_experiments import run_synapses

EXPONENTS = (0.5, 2 / 3, 4 / 3, 2.0)  # calcium efflux, vesicle membrane, actin, trafficking


@pytest.fixture(scope="module")
def per_synapse_runs():
    return {(seed, rho): run_synapses(seed, cost_exponent=rho, progress=False)
            for seed in (1, 2, 3) for rho in EXPONENTS}


def test_loglog_slope_of_an_exact_power_law(rng):
    x = np.exp(rng.uniform(-3, 3, 50))
    fit = loglog_slope(x, 3 * x**-0.7, rng)
    assert fit["slope"] == pytest.approx(-0.7, abs=1e-12)
    assert fit["low"] == pytest.approx(-0.7, abs=1e-9) and fit["high"] == pytest.approx(-0.7, abs=1e-9)
    with pytest.raises(ValueError, match="same shape"):
        loglog_slope(x, x[:3], rng)
    # Rows (postsynaptic neurons) with the same inputs and their own offsets: every resample of
    # rows has the slope exactly; resampling points instead would not keep the rows together.
    rows_x = np.tile(x, (3, 1))
    rows_y = np.array([[1.0], [2.0], [5.0]]) * rows_x**-0.7
    by_row = loglog_slope(rows_x, rows_y, rng, by_row=True)
    assert by_row["low"] == pytest.approx(-0.7, abs=1e-9) and by_row["high"] == pytest.approx(-0.7, abs=1e-9)
    assert loglog_slope(rows_x, rows_y, rng)["high"] > -0.7 + 1e-3
    with pytest.raises(ValueError, match="by_row"):
        loglog_slope(x, x, rng, by_row=True)
    # Points with x or y <= 0 (a synapse from a silent unit) are left out, and counted.
    spoiled_x, spoiled_y = x.copy(), 3 * x**-0.7
    spoiled_x[:5], spoiled_y[5:10] = 0.0, -1.0
    kept = loglog_slope(spoiled_x, spoiled_y, rng)
    assert kept["slope"] == pytest.approx(-0.7, abs=1e-12) and kept["n_points"] == 40
    with pytest.raises(ValueError, match="at least 3 points"):
        loglog_slope(np.array([1.0, 2.0, 0.0]), np.ones(3), rng)
    # One row of three holds every kept point: the resamples without it have no slope and are
    # left out of the interval, without a warning (a layer whose synapses all sit at the bound).
    lone_x = np.vstack([x[:4], np.zeros((2, 4))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lone = loglog_slope(lone_x, np.where(lone_x > 0, lone_x, 1.0) ** -0.7, rng, by_row=True)
    assert lone["low"] == pytest.approx(-0.7, abs=1e-9) and lone["high"] == pytest.approx(-0.7, abs=1e-9)


def test_variance_falls_with_the_exact_hessian_as_the_theory_says_for_every_exponent(per_synapse_runs):
    """The issue's bar: slope of log sigma^2 on log H within 0.03 of -2 / (2 + rho). Catches a
    cost charged on the wrong power, on the variance instead of the sd, or on the network
    instead of each synapse (then every sd is alike and the slope is 0). As measured, the four
    exponents' slopes are 0.05 to 0.3 apart, so a cost with any other of them fails."""
    for (seed, rho), ds in per_synapse_runs.items():
        assert abs(float(ds["slope_variance_on_hessian_0"]) + 2 / (2 + rho)) < 0.03, (seed, rho)
        np.testing.assert_allclose(ds["weight_std_0"].values, ds["optimal_weight_std_0"].values, rtol=0.05,
                                   err_msg=f"seed {seed}, rho {rho}")
        assert float(ds["optimality_ratio_median_0"]) == pytest.approx(1.0, abs=0.05)
        assert float(ds["optimality_within_factor_2_0"]) == 1.0
        assert float(ds["slope_variance_on_hessian_0_low"]) <= float(ds["slope_variance_on_hessian_0"]) \
            <= float(ds["slope_variance_on_hessian_0_high"])


def test_the_published_importance_measure_gives_the_same_slope(per_synapse_runs):
    """The mean squared gradient over noisy epochs is proportional to H on this task (the
    residual is independent of the input): its slope is within 0.03 of the Hessian's
    (measured 0.002-0.014)."""
    for key, ds in per_synapse_runs.items():
        assert abs(float(ds["slope_variance_on_importance_0"]) - float(ds["slope_variance_on_hessian_0"])) < 0.03, key


@pytest.mark.parametrize("rho", EXPONENTS)
def test_uniform_noise_grows_with_the_cost_as_the_theory_says(rho):
    """One sd for the network: sigma^(2 + rho) = rho c / mean H, so log sigma rises with log c
    at slope 1 / (2 + rho); the issue's bar is 0.03 over two decades of c."""
    costs = np.array([1e-4, 1e-3, 1e-2])
    runs = [run_synapses(1, cost_exponent=rho, cost_strength=c, noise="uniform", progress=False) for c in costs]
    sigma = np.array([float(ds["weight_std_0"][0, 0]) for ds in runs])
    np.testing.assert_allclose(sigma, [float(ds["optimal_weight_std_0"][0, 0]) for ds in runs], rtol=0.02)
    assert abs(np.polyfit(np.log(costs), np.log(sigma), 1)[0] - 1 / (2 + rho)) < 0.03


def test_weights_drawn_once_per_minibatch_reach_the_same_optimum():
    """The published protocol: same expected objective, so the same optimum (within 5%;
    measured 1.4%)."""
    ds = run_synapses(2, cost_exponent=2.0, per="minibatch", progress=False)
    np.testing.assert_allclose(ds["weight_std_0"].values, ds["optimal_weight_std_0"].values, rtol=0.05)


def test_the_command_writes_the_run_and_refuses_bad_options(tmp_path, capsys):
    out = tmp_path / "s.nc"
    assert main(["run", "synapses", "--cost-exponent", "0.5", "--cost-strength", "0.01", "--seed", "3",
                 "--quick", "--quiet", "--out", str(out)]) == 0
    ds = load(out)
    config = config_of(ds)
    assert (config["cost_strength"], config["cost_exponent"], config["noise"]) == (0.01, 0.5, "per-synapse")
    assert "c sigma^-rho, c = 0.01, rho = 0.5" in config["objective"]
    assert ds["weight_std_0"].dims == ("output", "input") and ds["weight_std_0"].attrs["units"]
    for argv, message in ((["--cost-strength", "0", "--cost-exponent", "1"], "--cost-strength: must be > 0"),
                          (["--cost-exponent", "-1"], "--cost-exponent: must be > 0"),
                          (["--noise", "per-neuron", "--cost-exponent", "1"], "--noise"),
                          ([], "--cost-exponent"), (["--cost", "log", "--cost-exponent", "1"], "power only")):
        bad = tmp_path / "bad.nc"
        assert_refused(["run", "synapses", "--seed", "1", "--out", str(bad), *argv], message, bad, capsys)


def test_the_figure_holds_the_statistics_and_redraws(tmp_path):
    ds = synapse_data.build()
    assert float(ds["ko_slope"]) == pytest.approx(log_log_fit(ds["presynaptic_rate"].values,
                                                              ds["normalised_variability"].values)["slope"])
    np.testing.assert_allclose(ds["predicted_slope"].values, [-0.8, -0.75, -0.6, -0.5])
    assert_reloads_to_same_plot(synapse_data, ds, tmp_path)


@pytest.fixture(scope="module")
def digits_run():
    return run_synapses(1, task="digits", cost_exponent=2.0, cost_strength=1e-7, progress=False)


def test_the_digits_network_classifies_well_at_a_small_cost(digits_run):
    """The issue's bar: >= 95% held-out accuracy with per-synapse noise at small c, weights
    drawn afresh for every image. Measured 98.1% on seed 1 (360 test images, SE 0.7 points:
    the bar is 4 SE below it, a false alarm under 1e-4 from the test set's sampling)."""
    assert float(digits_run["test_accuracy"]) >= 0.95
    assert float(digits_run["test_accuracy_at_mean"]) >= 0.95
    assert digits_run["weight_std_0"].dims == ("hidden_1", "input")
    assert digits_run["weight_std_2"].dims == ("output", "hidden_2")
    assert digits_run["weight_std_1"].shape == (100, 100)
    # Only the output layer's Hessian is exact; every layer has its slopes with intervals.
    assert "hessian_diag_2" in digits_run and "hessian_diag_0" not in digits_run
    for layer in range(3):
        for against in ("importance", "implied_learning_rate", "presynaptic_rate"):
            name = f"slope_variance_on_{against}_{layer}"
            assert float(digits_run[f"{name}_low"]) <= float(digits_run[name]) <= float(digits_run[f"{name}_high"])
    assert float(digits_run["weight_std_1"].max()) <= 1.0  # MAX_WEIGHT_STD


def test_on_digits_variance_falls_with_importance_but_not_as_the_power_law(digits_run):
    """The README's negative result. Measured on seeds 1-3 at c = 1e-7, rho = 2: Spearman
    correlation of sigma^2 and importance -0.56 to -0.79 per layer (bar -0.4, over 3 seed sds
    away), log-log slopes -0.027 to -0.049 (sd 0.008) where the quadratic theory says -0.5:
    the bar of -0.15 fails if the power law appeared or the sign turned.

    Against the output layer's Hessian of the expected loss, with which the theory is exact at
    the optimum: slopes -0.27 to -0.35 (sd 0.04; bars -0.5 and -0.15, 4 sds away), and 37-46%
    of the sds within a factor 2 of the stationary value that Hessian sets (bar 0.7, 5 sds):
    the trained network is not at that stationary point (4 times the steps did not change it)."""
    for layer in range(3):
        assert float(digits_run[f"rank_correlation_variance_importance_{layer}"]) < -0.4, layer
        assert -0.15 < float(digits_run[f"slope_variance_on_importance_{layer}"]) < 0, layer
    assert -0.5 < float(digits_run["slope_variance_on_hessian_2"]) < -0.15
    assert float(digits_run["optimality_within_factor_2_2"]) < 0.7


def test_the_cost_figure_per_synapse_noise_tolerates_a_larger_cost(tmp_path):
    """Figure synapse-cost at its quick size (1000 steps, c = 1e-7, 1e-4, 1e-3, 1e-2, seeds 1-3).
    The gallery's claim, at the published size (8000 steps, 11 costs): the per-synapse network
    falls halfway to chance at a cost 9.6-14.7 times the uniform control's (geometric mean 11.5).
    Measured at this size: 3.2-4.1 times (geometric mean 3.8, SE of its log 0.087, sd over
    seeds 0.15). The bar of 2 is 7 SEs below the mean (a false alarm under 1e-6 from the seeds'
    spread). Were the per-synapse network's sds shared, the two would be one network and the
    ratio 1. The published-size numbers are rerun by the -m slow test below."""
    ds = synapse_cost.build(quick=True)
    halfway = ds["halfway_cost"]
    assert np.all(np.isfinite(halfway.values))
    assert np.all(halfway.sel(noise="per-synapse").values > halfway.sel(noise="uniform").values)
    assert float(ds["halfway_ratio"]) > 2
    assert np.all(ds["test_accuracy"].isel(strength=0).values > 0.9)
    # One shared sd grows with its cost on every seed.
    assert np.all(np.diff(ds["rms_weight_std"].sel(noise="uniform").values, axis=-1) > 0)
    assert_reloads_to_same_plot(synapse_cost, ds, tmp_path)


@pytest.mark.slow
def test_the_cost_figure_at_the_published_size(tmp_path):
    """The gallery's numbers (seeds 1-3, about 9 min on 2 cores): every network classifies
    >= 95% of held-out digits at c = 1e-7; the per-synapse networks fall halfway to chance at
    c = 1.0-1.3e-3, the uniform controls at 0.86-1.14e-4, and the ratio's geometric mean is
    11.5 (SE of its log 0.13); the bars are the printed ranges, widened to the next digit."""
    ds = synapse_cost.build()
    assert np.all(ds["test_accuracy"].isel(strength=0).values >= 0.95)
    per_synapse, uniform = (ds["halfway_cost"].sel(noise=noise).values for noise in ("per-synapse", "uniform"))
    assert np.all((per_synapse > 0.95e-3) & (per_synapse < 1.35e-3))
    assert np.all((uniform > 0.8e-4) & (uniform < 1.2e-4))
    assert 10 < float(ds["halfway_ratio"]) < 13
    # Panel b: one shared sd grows with c, over the first two decades at slope 0.19 (log-log);
    # the per-synapse RMS is set by the synapses near the bound, and over those below it, it falls.
    uniform_std = ds["rms_weight_std"].sel(noise="uniform").values.mean(axis=0)
    strengths = ds["strength"].values
    assert 0.15 < np.log(uniform_std[4] / uniform_std[0]) / np.log(strengths[4] / strengths[0]) < 0.23
    assert np.all(ds["rms_weight_std"].sel(noise="per-synapse").values > 5)
    interior = ds["rms_weight_std_interior"].sel(noise="per-synapse").values
    assert np.all(interior[:, -1] < interior[:, 0])
    assert_reloads_to_same_plot(synapse_cost, ds, tmp_path)


def test_the_output_layer_hessian_is_the_exact_second_derivative(rng):
    """With negligible weight noise the expected Hessian is the Hessian at the mean weights:
    against JAX's Hessian of the cross-entropy, synapse by synapse."""
    import jax
    import jax.numpy as jnp

    from circuits.reliability import PowerLawCost
    from circuits.synapses import SynapticNetwork, SynapticObjective
    from simulations.synapse_experiments import _output_layer_hessian

    network = SynapticNetwork((3, 4, 3))
    params = network.init(jax.random.PRNGKey(0), noise_std=1e-9)
    x, labels = jnp.asarray(rng.normal(size=(20, 3))), jnp.asarray(rng.integers(0, 3, 20))
    objective = SynapticObjective("cross-entropy", PowerLawCost(1.0))

    def loss(output_weights):
        return objective.data_loss_at_mean(network, dict(params, weight_mean_1=output_weights), x, labels)

    full = np.asarray(jax.hessian(loss)(params["weight_mean_1"]), dtype=float).reshape(12, 12)
    expected = _output_layer_hessian("cross-entropy", network, params, np.asarray(x), jax.random.PRNGKey(1), 2)
    np.testing.assert_allclose(expected.ravel(), np.diag(full), rtol=1e-5)


def _write_idx(path, array):
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    opener = __import__("gzip").open if str(path).endswith(".gz") else open
    with opener(path, "wb") as file:
        file.write(header + array.tobytes())


def test_mnist_is_read_from_idx_files_and_refused_without_them(tmp_path, capsys, rng):
    from simulations.synapse_experiments import MNIST_FILES, read_idx

    # 8 x 8 images: the reader and the wiring are those of 28 x 28 MNIST, and the network then
    # has the digits network's shapes, already compiled by this file's digits runs.
    images = rng.integers(0, 256, (40, 8, 8)).astype(np.uint8)
    labels = rng.integers(0, 10, 40).astype(np.uint8)
    for part, name in MNIST_FILES.items():
        array = images if part.endswith("images") else labels
        _write_idx(tmp_path / (name + (".gz" if part.startswith("train") else "")), array)
    np.testing.assert_array_equal(read_idx(tmp_path / (MNIST_FILES["train_images"] + ".gz")), images)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")

    out = tmp_path / "m.nc"
    assert main(["run", "synapses", "--task", "mnist", "--data-dir", str(tmp_path), "--cost-exponent", "2",
                 "--steps", "20", "--seed", "1", "--quiet", "--out", str(out)]) == 0
    ds = load(out)
    assert ds["weight_std_0"].shape == (100, 64) and config_of(ds)["n_test"] == 40

    (tmp_path / MNIST_FILES["test_labels"]).unlink()
    for argv, message in ((["--data-dir", str(tmp_path)], "t10k-labels-idx1-ubyte"), ([], "--data-dir")):
        bad = tmp_path / "bad.nc"
        assert_refused(["run", "synapses", "--task", "mnist", "--cost-exponent", "2", "--seed", "1", "--out",
                        str(bad), *argv], message, bad, capsys)
