"""The gsm-posterior and spontaneous figures at their size, training seeds 1-3, sharing the
Gaussian circuits they both train. gsm-posterior: which response distributions reach the
exact GSM posterior, contrast by contrast (issue 18).

Measured on seeds 1-3 (2026-12-07), mean (SE over seeds) at contrasts 0.25, 0.5, 1, 2, 4:
- KL to the exact posterior (nats): linear-encoder Gaussian circuit 1.89 1.85 1.51 3.20 15.2;
  MLP encoder 0.55 0.76 1.15 2.30 6.01; gain circuit 0.024 0.021 0.019 0.023 0.14 (0.02);
  best factorised Gaussian 0.34 0.58 0.95 1.43 1.89; best Gaussian 0.17 0.23 0.25 0.22 0.17.
- mean error (posterior sd): MLP 0.18 0.22 0.29 (0.02) 0.79 2.15; gain 0.07 0.08 0.09 (0.02)
  0.11 (0.02) 0.39 (0.07).
- variance ratio: best factorised Gaussian 0.83 0.68 (0.03) 0.47 0.29 0.19; gain 0.98 0.96
  0.97 0.98 (0.02) 1.07 (0.05).
- the gain unit's mean exp(u): 0.42 0.65 1.07 1.81 2.72 against E[c | x] 0.42 0.64 1.07 1.81
  2.88.

False alarms: each claim is tested on the mean over the three seeds against 3 SEs of their
spread, one-sided 1.3e-3 for a normal spread; the bars sit 5 or more SEs from the measured
means except where a docstring line below says otherwise.
"""

import numpy as np
import pytest
from figure_checks import assert_reloads_to_same_plot

from analysis.compare import gaussian_kl
from simulations.figures import FIGURES
from simulations.figures.gsm_posterior import circuit_runs
from simulations.results import config_of

SEEDS = (1, 2, 3)
module = FIGURES["gsm-posterior"]


@pytest.fixture(scope="module")
def runs():
    return {seed: circuit_runs(seed) for seed in SEEDS}


def _mean_and_se(values):
    values = np.asarray(values)
    return values.mean(0), values.std(0, ddof=1) / np.sqrt(len(values))


def test_gsm_posterior_figure(tmp_path, runs):
    figures = {seed: module.build(seed=seed, gsm_runs=runs[seed]) for seed in SEEDS}
    levels = figures[1]["contrast_level"].values

    def per_seed(name, circuit=None):
        return np.array([(ds[name].sel(circuit=circuit) if circuit else ds[name]).values for ds in figures.values()])

    # Gaussian circuits: the MLP encoder beats the linear one everywhere (paired), yet its mean
    # misses the 0.15-sd bar from contrast 1 (0.29 +- 0.02 there), and no factorised Gaussian
    # reaches the variance band from contrast 0.5 (0.68 +- 0.03 there).
    mlp_below_linear, se = _mean_and_se(per_seed("kl_by_contrast", "linear") - per_seed("kl_by_contrast", "mlp"))
    assert np.all(mlp_below_linear > 3 * se)
    # A factorised Gaussian circuit cannot beat the best factorised Gaussian (5 % slack for the
    # Monte Carlo and the optimiser).
    assert np.all(per_seed("kl_by_contrast", "mlp") > 0.95 * per_seed("best_factorised_kl_by_contrast"))
    error, se = _mean_and_se(per_seed("mean_error_by_contrast", "mlp"))
    assert np.all((error - 3 * se)[levels >= 1] > 0.15), error
    ratio, se = _mean_and_se(per_seed("best_factorised_variance_ratio_by_contrast"))
    assert np.all((ratio + 3 * se)[levels >= 0.5] < 0.85), ratio

    # The gain circuit: below the best Gaussian's KL up to contrast 2 (paired), variance ratio
    # in [0.85, 1.15] up to contrast 2 (at 4: 1.07 +- 0.05, so not tested), mean error under
    # 0.15 up to contrast 1 (at 2 it is 0.11 +- 0.02, all seeds under 0.13: 2 SEs from the bar)
    # and above it at 4; its gain unit's mean within 10 % of E[c | x] up to contrast 2.
    below_best, se = _mean_and_se(per_seed("best_gaussian_kl_by_contrast") - per_seed("kl_by_contrast", "gain"))
    assert np.all((below_best - 3 * se)[levels <= 2] > 0), below_best
    ratio, se = _mean_and_se(per_seed("variance_ratio_by_contrast", "gain"))
    assert np.all((ratio - 3 * se)[levels <= 2] > 0.85) and np.all((ratio + 3 * se)[levels <= 2] < 1.15), ratio
    error, se = _mean_and_se(per_seed("mean_error_by_contrast", "gain"))
    assert np.all((error + 3 * se)[levels <= 1] < 0.15) and (error - 3 * se)[-1] > 0.15, error
    relative, se = _mean_and_se(per_seed("gain_contrast_by_contrast") / per_seed("posterior_contrast_by_contrast"))
    assert np.all((np.abs(relative - 1) + 3 * se)[levels <= 2] < 0.1), relative

    # The per-contrast means are the per-stimulus values' means.
    ds = figures[1]
    contrast = ds["stimulus_contrast"].values
    for index, level in enumerate(levels):
        np.testing.assert_allclose(ds["kl_by_contrast"].values[:, index],
                                   ds["kl_by_stimulus"].values[:, contrast == level].mean(1), rtol=1e-6)
    assert_reloads_to_same_plot(module, ds, tmp_path)


def test_spontaneous(tmp_path, runs):
    """The gallery's spontaneous-activity result at its size, on three training seeds, a
    failure it reports: evoked activity pooled over stimuli follows the prior (KL < 0.1 nats)
    but spontaneous activity is far narrower (KL > 1 nat). Measured on seeds 1-5: evoked KL
    0.015-0.054 (mean 0.031, sd 0.017: the bar is 4 sd above, one-sided 3e-5 per seed),
    spontaneous KL 3.1-4.2 (5.8 sd above its bar). Catches a figure that compares with the
    wrong prior and samples that are not the circuit's own (below). Checked by hand: after 1
    training step the evoked KL fails its 0.1-nat bar.

    Against the exact posterior given x = 0 (issue 18's bar: within 0.05 nats of the best
    Gaussian), measured on seeds 1-3: linear encoder 1.59-1.92 nats, MLP encoder 0.35-0.52,
    gain circuit 0.002, 0.014, 0.036, against the best Gaussian's 0.065-0.085 and the best
    factorised Gaussian's 0.11-0.16 (Monte Carlo SEs 0.001-0.015). Tested: the MLP encoder is
    closer than the linear one; neither Gaussian circuit meets the bar (the gap to the best
    Gaussian exceeds 0.05 nats by 4 combined SEs: one-sided 3e-5); the gain circuit meets it
    (4 combined SEs) and is below the best Gaussian (3 combined SEs: 4.4 on the closest seed).
    Consistency checks that fail when the optimiser or the estimator is wrong: no factorised
    Gaussian circuit beats the best factorised Gaussian and that one does not beat the best
    Gaussian, each within 4 combined SEs."""
    module = FIGURES["spontaneous"]
    for seed in SEEDS:
        ds = module.build(seed=seed, gsm_runs=runs[seed])
        kl = dict(zip(ds["circuit"].values, ds["kl_blank_posterior"].values, strict=True))
        kl_se = dict(zip(ds["circuit"].values, ds["kl_blank_posterior_se"].values, strict=True))
        best, best_se = float(ds["best_gaussian_kl_blank"]), float(ds["best_gaussian_kl_blank_se"])
        factorised, factorised_se = float(ds["best_factorised_kl_blank"]), float(ds["best_factorised_kl_blank_se"])
        assert kl["mlp"] + 4 * np.hypot(kl_se["mlp"], kl_se["linear"]) < kl["linear"], seed
        for encoder in ("linear", "mlp"):
            assert kl[encoder] - best > 0.05 + 4 * np.hypot(kl_se[encoder], best_se), (seed, encoder)
            assert kl[encoder] > factorised - 4 * np.hypot(kl_se[encoder], factorised_se), (seed, encoder)
        assert factorised > best - 4 * np.hypot(factorised_se, best_se), seed
        assert kl["gain"] - best < 0.05 - 4 * np.hypot(kl_se["gain"], best_se), seed
        assert kl["gain"] < best - 3 * np.hypot(kl_se["gain"], best_se), seed
        assert float(ds["kl_evoked_prior"]) < 0.1, seed
        assert float(ds["kl_spontaneous_prior"]) > 1, seed
        assert np.all(np.diag(ds["spontaneous_cov"].values) < np.diag(ds["prior_cov"].values))
        spontaneous_cov = ds["spontaneous_cov"].values
        k = spontaneous_cov.shape[0]
        expected = float(gaussian_kl(ds["spontaneous_mean"].values, spontaneous_cov, np.zeros(k),
                                     ds["prior_cov"].values))
        assert float(ds["kl_spontaneous_prior"]) == pytest.approx(expected, rel=1e-9)
        # The 20000 spontaneous samples are independent draws of the circuit's own Gaussian
        # response to x = 0: mean within 4.5 SE (sd / sqrt(n)), variance within 4.5 SE (var
        # sqrt(2 / (n - 1))); two-sided false alarm 7e-6 per number, 3e-4 for the 2K x 3 of them.
        exact_variance = np.diag(ds["circuit_blank_cov"].values)
        n = config_of(ds)["n_spontaneous"]
        mean_z = (ds["spontaneous_mean"].values - ds["circuit_blank_mean"].values) / np.sqrt(exact_variance / n)
        variance_z = (np.diag(spontaneous_cov) - exact_variance) / (exact_variance * np.sqrt(2 / (n - 1)))
        assert np.abs(mean_z).max() < 4.5 and np.abs(variance_z).max() < 4.5
    assert_reloads_to_same_plot(module, ds, tmp_path)
