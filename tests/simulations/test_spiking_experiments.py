"""The spike-based Boltzmann sampler experiment: the issue's acceptance bars, file contract, errors.

False alarms: for an exact sampler, 2 N_eff KL(histogram || p) is chi-square with 2^K - 1
degrees of freedom (N_eff from the measured autocorrelation time), so KL / floor is
chi2_df / df: the bar of 2x the floor at df = 31 is exceeded with probability 7e-4, and 4x
the floor at df = 7 (the clamped run's 3 free units) with 2e-4. Seeds are fixed."""

import numpy as np
import pytest

from analysis.generative import BoltzmannMachine, state_bits
from simulations.cli import main
from simulations.results import config_of, load
from simulations.spiking_experiments import random_boltzmann_machine, run_boltzmann


@pytest.fixture(scope="module")
def hundred_seconds():
    """K = 5 random units, one chain, 100 s of simulated time (numpy target, ~20 s wall)."""
    return run_boltzmann(seed=1, n_units=5, duration=100.0, progress=False)


def test_kl_falls_below_a_hundredth_of_a_nat_within_100_s(hundred_seconds):
    ds = hundred_seconds
    assert ds["sampled_time"].values[-1] <= 100.0
    assert float(ds["kl_final"]) < 0.01


def test_kl_stays_within_twice_the_plugin_bias_floor_and_falls_as_one_over_time(hundred_seconds):
    ds = hundred_seconds
    # E[KL] = floor for an exact sampler; its sd is ~ floor * sqrt(2 / 31), so 2x is 4 sd.
    assert float(ds["kl_final"]) < 2 * float(ds["kl_floor_final"])
    assert -1.5 < float(ds["kl_slope"]) < -0.5
    late = ds["n_draws"].values >= ds.sizes["draw"] / 10
    assert np.all(ds["kl_sampled"].values[late] < 2 * ds["kl_floor"].values[late])


def test_clamped_units_give_the_exact_conditional(hundred_seconds):
    ds = hundred_seconds
    assert float(ds["kl_conditional"]) < 4 * float(ds["kl_conditional_floor"])
    exact = BoltzmannMachine(ds["W"].values, ds["b"].values).conditional(
        ds["clamped_unit"].values, ds["clamped_value"].values).probabilities()
    np.testing.assert_allclose(ds["p_conditional_exact"].values, exact)


def test_file_contract(hundred_seconds, tmp_path):
    ds = hundred_seconds
    W = ds["W"].values
    np.testing.assert_array_equal(W, W.T)
    # p_exact is recomputable from the file alone, with unit k = bit k of the state index.
    machine = BoltzmannMachine(W, ds["b"].values)
    np.testing.assert_allclose(ds["p_exact"].values, machine.probabilities())
    np.testing.assert_array_equal(ds["state_bits"].values, state_bits(np.arange(32), 5))
    states = ds["z"].values.reshape(-1, 5)
    index = (states * (1 << np.arange(5))).sum(-1)
    np.testing.assert_allclose(ds["p_sampled"].values, np.bincount(index, minlength=32) / len(index))
    units = {name: ds[name].attrs["units"] for name in ("kl_sampled", "sampled_time", "spike_count",
                                                         "autocorrelation_time", "simulated_seconds_per_second")}
    assert units == {"kl_sampled": "nats", "sampled_time": "s", "spike_count": "spikes", "autocorrelation_time": "s",
                     "simulated_seconds_per_second": "s/s"}
    config = config_of(ds)
    assert config["seed"] == 1 and config["neuron"] == "abstract" and config["clamp"] == {"0": 1, "1": 0}


def test_show_prints_units_beside_times(hundred_seconds, tmp_path, capsys):
    from simulations.cli import main
    from simulations.results import save

    main(["show", str(save(hundred_seconds, tmp_path / "b.nc"))])
    out = capsys.readouterr().out
    config = config_of(hundred_seconds)
    assert f"duration = {config['duration']} s" in out and f"tau = {config['tau']} s" in out
    assert "seed = 1\n" in out
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("autocorrelation_time")] == ["s"]


def test_random_machine_follows_its_documented_distribution():
    W, b = random_boltzmann_machine(400, np.random.default_rng(0), weight_scale=0.5, bias_scale=0.5)
    off_diagonal = W[np.triu_indices(400, 1)]
    # sd estimates from 79,800 and 400 draws: standard errors 0.0013 and 0.018.
    assert abs(off_diagonal.std() - 0.5) < 6 * 0.5 / np.sqrt(2 * off_diagonal.size)
    assert abs(b.std() - 0.5) < 6 * 0.5 / np.sqrt(2 * b.size)
    assert np.all(np.diagonal(W) == 0) and np.array_equal(W, W.T)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_units=25), "enumeration limit"),
        (dict(duration=0.0), "duration"),
        (dict(duration=-5.0), "duration"),
        (dict(tau=0.0), "tau"),
        (dict(tau=-0.01), "tau"),
        (dict(neuron="hodgkin"), "neuron"),
        (dict(n_units=2, clamp={0: 1, 1: 0}), "free"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_boltzmann(seed=1, progress=False, **{"duration": 2.0, **kwargs})


def test_cli_run_boltzmann_writes_file_and_plot(tmp_path, capsys):
    out, plot = tmp_path / "bm.nc", tmp_path / "bm.png"
    code = main(["run", "boltzmann", "--units", "4", "--seed", "3", "--duration", "5", "--trials", "4",
                 "--clamp", "2=1", "--out", str(out), "--plot", str(plot), "--quiet"])
    assert code == 0
    assert "kl_final" in capsys.readouterr().out
    ds = load(out)
    assert ds.sizes["trial"] == 4 and ds.sizes["state"] == 16 and ds.sizes["free_state"] == 8
    assert plot.stat().st_size > 0
    assert main(["run", "boltzmann", "--units", "30", "--seed", "1", "--out", str(tmp_path / "x.nc"), "--quiet"]) == 2
    assert "enumeration limit" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "boltzmann", "--seed", "1", "--clamp", "0:1", "--out", str(tmp_path / "y.nc")])


@pytest.fixture(scope="module")
def rate_file(tmp_path_factory):
    """The trained single-layer circuit (default training, seed 1) that both spiking versions carry."""
    path = tmp_path_factory.mktemp("rate") / "lg.nc"
    assert main(["run", "linear-gaussian", "--architecture", "single-layer", "--seed", "1", "--test-stimuli", "6",
                 "--samples", "50", "--out", str(path), "--quiet"]) == 0
    return path


def _design_z_scores(ds):
    """Per stimulus and latent: the decoded mean minus the rate circuit's mean, in SEs (sd /
    sqrt(n)), and the decoded variance minus the designed one, in SEs (var sqrt(2 / (n - 1)))."""
    decoded = ds["decoded"].values
    n = decoded.shape[1]
    variance = decoded.var(1, ddof=1)
    designed = ds["predicted_variance"].values
    return ((decoded.mean(1) - ds["rate_mean"].values) / np.sqrt(variance / n),
            (variance - designed) / (designed * np.sqrt(2 / (n - 1))))


def test_spiking_version_of_the_linear_gaussian_circuit(rate_file, tmp_path, capsys):
    """The issue's bars: decoded means within 0.2 posterior sd of the exact posterior mean,
    variances within 25% of the rate circuit's. Tighter, what the design makes exact: per
    stimulus and latent, the decoded mean is the rate circuit's mean and the decoded variance
    the designed one, each within 4.5 SE (two-sided false alarm 7e-6 per number, 3e-4 for the
    48; measured on seeds 2-5: largest |z| 2.96 for means, 3.12 for variances). Catches ON / OFF
    rates that do not carry the mean and release statistics that miss the trained variance."""
    out = tmp_path / "spiking.nc"
    assert main(["run", "spiking-circuit", "--from", str(rate_file), "--seed", "2", "--window", "0.5",
                 "--out", str(out), "--quiet"]) == 0
    assert "max_mean_error_sd" in capsys.readouterr().out
    ds = load(out)
    assert float(ds["max_mean_error_sd"]) < 0.2
    assert float(ds["max_variance_deviation_to_rate"]) < 0.25
    assert ds["decoded"].dims == ("stimulus", "trial", "latent") and ds.sizes["trial"] == 500
    mean_z, variance_z = _design_z_scores(ds)
    assert np.abs(mean_z).max() < 4.5 and np.abs(variance_z).max() < 4.5
    assert config_of(ds)["rate_circuit"]["architecture"] == "single-layer"


def test_spiking_version_refuses_a_correlated_noise_circuit(tmp_path, capsys):
    rate_file = tmp_path / "ml.nc"
    assert main(["run", "linear-gaussian", "--architecture", "multi-layer", "--seed", "1", "--steps", "20",
                 "--test-stimuli", "2", "--samples", "5", "--out", str(rate_file), "--quiet"]) == 0
    assert main(["run", "spiking-circuit", "--from", str(rate_file), "--seed", "1", "--out",
                 str(tmp_path / "s.nc"), "--quiet"]) == 2
    assert "single-layer" in capsys.readouterr().err


def test_lif_version_of_the_linear_gaussian_circuit(rate_file, tmp_path):
    """The LIF version, 1000 trials, against the issue's bars (decoded means within 0.2
    posterior sd of the exact posterior mean, variances within 25% of the rate circuit's) and
    the design: each decoded mean is the rate circuit's within 4.5 SE.

    False alarms, measured on seeds 2-5 at 500 trials and 2 and 4 at 1000: decoded means within
    3.3 SE of the rate circuit's (calibration noise included) and 0.11 posterior sd of the
    posterior's; decoded / designed variance 0.93-0.98 on average, a model error (one Fano
    factor for every rate), with a per-number sampling sd of sqrt(2 / (n - 1)) = 0.045 at 1000
    trials, so the 25% bar is 4 sd beyond the worst bias: about 1e-3 for the 24 numbers. Checked
    by hand: rates 10% off the calibration fail the mean bar; counts taken as Poisson (Fano 1
    instead of the measured 1.15) move the variance by about 13%, inside the 25% bar, so that is
    not caught."""
    out = tmp_path / "lif.nc"
    assert main(["run", "spiking-circuit", "--from", str(rate_file), "--seed", "2", "--window", "0.5",
                 "--neuron", "lif", "--trials", "1000", "--out", str(out), "--quiet"]) == 0
    ds = load(out)
    assert float(ds["max_mean_error_sd"]) < 0.2
    assert float(ds["max_variance_deviation_to_rate"]) < 0.25
    mean_z, _ = _design_z_scores(ds)
    assert np.abs(mean_z).max() < 4.5
