"""The figures of the trained SSN (onset quenching, dynamics), built at the gallery's sizes with
the default training, and their claims. A file of their own so that the test runner can put
them on one core and the other figures on another.

False alarms: the onset claim is tested on three trained networks with an SE that includes
the spread across training seeds; the dynamics claim on the same three networks, its margin
measured on five (stated in each test).
"""

import numpy as np
import pytest
from figure_checks import assert_reloads_to_same_plot

from analysis.variability import band_power
from simulations.figures import FIGURES
from simulations.results import config_of
from simulations.ssn_experiments import run_ssn


@pytest.fixture(scope="module")
def trained_ssns():
    """Both SSNs at their default training (1200 steps, as in the gallery), shared by the onset
    and dynamics figures: the claims are about trained networks, so they are checked at the
    training the gallery reports."""
    return {objective: run_ssn(1, objective, progress=False) for objective in ("moments", "mean")}


ONSET_SEEDS = (1, 2, 3)
# The seed-to-seed sd of the Fano drop beyond its trial SE, measured on networks 1-5 (2026-12-07:
# drops 0.040, 0.086, 0.065, 0.038, 0.109, sd 0.030; jackknife SEs over trials 0.011-0.013).
SEED_SD_OF_FANO_DROP = 0.0280


@pytest.fixture(scope="module")
def onset_networks(trained_ssns):
    """Three SSNs trained on the posterior's moments: the gallery's (seed 1) and seeds 2 and 3."""
    return {1: trained_ssns["moments"], **{seed: run_ssn(seed, "moments", progress=False) for seed in ONSET_SEEDS[1:]}}


@pytest.fixture(scope="module")
def onset_figures(onset_networks):
    return {seed: FIGURES["onset"].build(seed=seed, ssn_results=network) for seed, network in onset_networks.items()}


@pytest.fixture(scope="module")
def onset_figure(onset_figures):
    return onset_figures[1]


@pytest.fixture(scope="module")
def dynamics_figure(trained_ssns):
    return FIGURES["ssn-dynamics"].build(seed=1, ssn_results=trained_ssns["moments"],
                                         control_results=trained_ssns["mean"])


def test_onset_data_and_reload(tmp_path, onset_figure):
    module, ds = FIGURES["onset"], onset_figure
    assert ds["fano"].dims == ("window",) and ds["fano"].size == 10
    assert np.all(ds["fano_se"].values > 0)
    assert float(ds["fano_drop"]) == pytest.approx(float(ds["fano_before"] - ds["fano_after"]))
    assert float(ds["posterior_variance_stimulus"]) < float(ds["posterior_variance_blank"])
    assert_reloads_to_same_plot(module, ds, tmp_path)


def test_onset_quench(onset_figures):
    """The gallery's onset claim on three trained networks: the Fano factor after onset is below
    that before, and the samples' variance falls, in each network (variance after / before
    measured 0.31-0.63 on five).

    The mean drop over the three must exceed 3 SE, with the SE of that mean from both its trial
    SEs (jackknife) and the seed-to-seed sd measured on five networks: the mean of the five
    drops is 5.0 such SEs (seeds 1-3: 3.6), so a new set of seeds fails with probability about
    0.03, and a network that does not quench passes with probability 1.3e-3. Catches undertrained networks
    (checked by hand on seed 1 alone, before the test took three seeds: after 100 training
    steps the drop is 2.1 trial SEs; after 1 step the network does not spike and the build
    raises). Seed 2 has one (stimulus, cell) pair silent in a window, which the figure leaves
    out."""
    drops = np.array([float(onset_figures[seed]["fano_drop"]) for seed in ONSET_SEEDS])
    trial_se = np.array([float(onset_figures[seed]["fano_drop_se"]) for seed in ONSET_SEEDS])
    standard_error = np.sqrt(np.sum(trial_se**2) + len(ONSET_SEEDS) * SEED_SD_OF_FANO_DROP**2) / len(ONSET_SEEDS)
    assert drops.mean() > 3 * standard_error, (drops, standard_error)
    # Each network: the smallest of the five drops is 1.25 sds of their spread above 0, so a new
    # network would fail this with probability about 0.1; seeds 1-3 are fixed and pass.
    assert np.all(drops > 0), drops
    for seed in ONSET_SEEDS:
        ds = onset_figures[seed]
        assert float(ds["variance_after"]) < float(ds["variance_before"]), seed
        # The pool is most of the 4 stimuli x 4 E cells, not a few survivors (measured: 14-16).
        assert int(ds["fano_pairs"]) + int(ds["fano_pairs_silent"]) == 16 and int(ds["fano_pairs"]) >= 12


def test_ssn_dynamics_data_and_reload(tmp_path, dynamics_figure):
    module, ds = FIGURES["ssn-dynamics"], dynamics_figure
    assert ds["psd"].dims == ("network", "contrast", "frequency")
    np.testing.assert_allclose(ds["gamma_power"].values,
                               band_power(ds["frequency"].values, ds["psd"].values, (20.0, 80.0)))
    assert np.all(np.isfinite(ds["overshoot"].values))
    assert_reloads_to_same_plot(module, ds, tmp_path)


def test_sampling_ssn_variance_falls_with_contrast(onset_networks, dynamics_figure):
    """The dynamics claim that holds across training seeds and needs training: in the network
    trained on the posterior's moments, the samples' steady-state variance at the highest
    contrast is below 0.85 of that at the lowest, on seeds 1-3 (measured on seeds 1-5:
    0.42-0.71, falling at every step; the posterior's: 0.22-0.32). Checked by hand on seed 1:
    after 1 training step the ratio is 0.94, after 100 steps 0.88, so both fail.

    Not asserted, because they do not hold across seeds or do not need training: the onset
    overshoot grows with contrast on all five seeds (0.03-0.21 mV to 1.5-3.0 mV) but also in a
    network trained for 1 step (0.007 to 1.1 mV): the input drives it. Against the mean-only
    control, on seeds 1-5 the overshoot is larger at every contrast on 3 of 5, gamma power
    grows from the lowest to the highest contrast on 4 of 5 and is larger than the control's
    at every contrast on 4 of 5 (the gallery says so)."""
    from simulations.figures.ssn_dynamics import measure

    contrasts = dynamics_figure["contrast"].values
    config = config_of(dynamics_figure)  # the other seeds are measured as the figure measured seed 1
    variances = {1: dynamics_figure["variance"].sel(network="moments").values}
    for seed in ONSET_SEEDS[1:]:
        variances[seed] = measure(onset_networks[seed], seed, config["n_stimuli"], config["n_trials"],
                                  contrasts)["variance"]
    for seed, variance in variances.items():
        assert variance[-1] < 0.85 * variance[0], (seed, variance)
