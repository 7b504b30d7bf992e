"""Noise correlations on natural-image patches: against the posterior's, against signal
correlations and against the difference in preferred orientation (the relations recorded in
V1: noise correlations are larger for similarly tuned pairs, e.g. Ecker et al. 2010; the
sampling account, Orban, Berkes, Fiser & Lengyel 2016).

The generative model is sparse coding learned from whitened 8 x 8 patches (Laplace prior,
scikit-learn's MAP dictionary of ``N_LATENT`` unit-norm atoms, overcomplete; ``simulations.
natural_image_circuits``), and the circuit a recurrent one trained on it with the reliability
cost charged on the response entropy (``--charge responses``, the decoder fixed at the
dictionary). A single-layer or multi-layer circuit's noise on patches is independent or
nearly so, which is why the recurrent circuit is the one shown. Its posterior is not
Gaussian, so the reference is NUTS (R-hat, ESS and divergences are in the run).

Per pair of units:
- noise correlation: the correlation across trials of the responses to one held-out patch,
  averaged over patches; for the posterior, the NUTS posterior's correlation, averaged the
  same way;
- signal correlation: the correlation over held-out patches of the trial-averaged responses;
  for the posterior, of the posterior means;
- orientation difference: between the two units' preferred orientations, from Gabor fits of
  their basis functions (decoder columns) in pixel space, in [0, pi/2].
Standard errors are bootstrap SEs over the held-out patches (the estimation error of a
statistic of these units); the mean noise correlation per orientation bin also has the SE
over the bin's pairs (how much the pairs differ). With an overcomplete dictionary
the posterior explains away: units whose basis functions overlap compete for the same patch
and their posterior correlation is negative, while their signal correlation is positive.
"""

from __future__ import annotations

import sys

import numpy as np

from analysis.compare import correlation_agreement, correlation_from_cov
from analysis.plots import _label, identity_scatter, new_panels
from analysis.variability import noise_correlations
from simulations.figures._common import figure_dataset, index, main_for
from simulations.results import config_of, scalar, variable

NAME = "patch-noise-correlations"
DESCRIPTION = "noise vs signal correlations and orientation difference on natural-image patches, circuit and NUTS"
#: Bin edges of the orientation difference (radians): four bins of pi/8 over [0, pi/2].
ORIENTATION_EDGES = np.linspace(0.0, np.pi / 2, 5)
N_BOOTSTRAP = 200
PATCH_SEED = 0  # the patches are the data, fixed; ``seed`` is the circuit's and the dictionary's
#: (patch side, whitened components, latents K, patches, of which trained on, held-out patches,
#: response samples per patch, NUTS draws and warm-up steps per chain).
SIZES = {False: (8, 16, 32, 12_000, 10_000, 48, 400, 500),
         True: (8, 16, 24, 12_000, 10_000, 32, 300, 300)}


def figure_patches(quick: bool):
    """The patch file behind the figure: the bundled photographs, at the figure's sizes."""
    from simulations.natural_images import make_patches

    size, n_components, _, n_patches = SIZES[quick][:4]
    return make_patches(PATCH_SEED, size=size, n_patches=n_patches, n_components=n_components)


def sparse_recurrent_run(seed: int, quick: bool, progress: bool = False, patches=None):
    """The ``run natural-images --model sparse --architecture recurrent`` Dataset behind the
    figure (default training), on ``patches`` (default ``figure_patches(quick)``)."""
    from simulations.natural_image_circuits import run_natural_images

    n_latent, _, n_train, n_test, samples, draws = SIZES[quick][2:]
    patches = figure_patches(quick) if patches is None else patches
    return run_natural_images(seed, patches, model="sparse", n_latent=n_latent, n_train=n_train, n_test=n_test,
                              samples=samples, n_reference_draws=draws, architecture="recurrent", progress=progress)


def _pairs(matrix):
    rows, cols = np.triu_indices(matrix.shape[-1], 1)
    return matrix[..., rows, cols]


def orientation_differences(orientation) -> np.ndarray:
    """Per pair (i < j), the difference of two orientations (radians, modulo pi), in [0, pi/2]."""
    orientation = np.asarray(orientation, dtype=float)
    difference = np.abs(orientation[:, None] - orientation[None, :]) % np.pi
    return _pairs(np.minimum(difference, np.pi - difference))


def relation_statistics(noise, signal, orientation_difference) -> np.ndarray:
    """Over pairs (arrays (n_pairs,)): [least-squares slope of noise on signal correlation
    (with an intercept), slope of noise correlation on orientation difference (per radian),
    mean noise correlation in each bin of ``ORIENTATION_EDGES``]."""
    def slope(y, x):
        x = x - x.mean()
        return float((y - y.mean()) @ x / (x @ x))

    bins = np.digitize(orientation_difference, ORIENTATION_EDGES[1:-1])
    binned = [noise[bins == b].mean() for b in range(len(ORIENTATION_EDGES) - 1)]
    return np.array([slope(noise, signal), slope(noise, orientation_difference), *binned])


def _statistics(circuit_noise, posterior_noise, tuning, posterior_mean, orientation_difference, active):
    """Per-pair correlations (circuit and posterior) and their relation statistics, from
    per-patch noise correlations, trial-averaged responses and posterior means (patch first);
    pairs of active units only."""
    keep = _pairs(active[:, None] & active[None, :])
    noise = {"circuit": _pairs(circuit_noise.mean(0))[keep], "posterior": _pairs(posterior_noise.mean(0))[keep]}
    signal = {"circuit": _pairs(correlation_from_cov(np.cov(tuning, rowvar=False)))[keep],
              "posterior": _pairs(correlation_from_cov(np.cov(posterior_mean, rowvar=False)))[keep]}
    relations = {source: relation_statistics(noise[source], signal[source], orientation_difference[keep])
                 for source in noise}
    return noise, signal, relations


def build(seed: int = 1, quick: bool = False, progress: bool = False, natural_image_results=None):
    """``natural_image_results``: an already trained ``sparse_recurrent_run`` Dataset to use
    instead of training one."""
    import jax.numpy as jnp

    from simulations.tasks import trained_circuit

    run = natural_image_results if natural_image_results is not None else sparse_recurrent_run(seed, quick, progress)
    config = config_of(run)
    if (config.get("experiment") != "natural-images" or config.get("model") != "sparse"
            or config.get("architecture") != "recurrent" or "reference_cov" not in run):
        raise ValueError("natural_image_results must be a run natural-images Dataset of the sparse model, recurrent "
                         "architecture, with its NUTS reference")
    responses = run["r"].values  # (patch, trial, latent)
    per_patch_noise = noise_correlations(responses, trial_axis=1)
    tuning = responses.mean(1)
    posterior_mean = run["reference_mean"].values
    per_patch_posterior = correlation_from_cov(run["reference_cov"].values)
    active = run["active"].values.astype(bool)
    difference = orientation_differences(run["gabor_orientation"].values)
    noise, signal, relations = _statistics(per_patch_noise, per_patch_posterior, tuning, posterior_mean, difference,
                                           active)

    # Bootstrap over held-out patches: every per-pair and relation statistic recomputed.
    rng = np.random.default_rng(seed)
    draws = {source: [] for source in ("circuit", "posterior", "excess")}
    noise_draws = {source: [] for source in ("circuit", "posterior")}
    for pick in rng.integers(0, responses.shape[0], (N_BOOTSTRAP, responses.shape[0])):
        boot_noise, _, boot = _statistics(per_patch_noise[pick], per_patch_posterior[pick], tuning[pick],
                                          posterior_mean[pick], difference, active)
        for source in noise_draws:
            draws[source].append(boot[source])
            noise_draws[source].append(boot_noise[source])
        draws["excess"].append(boot["circuit"] - boot["posterior"])
    se = {source: np.std(values, axis=0, ddof=1) for source, values in draws.items()}
    noise_se = {source: np.std(values, axis=0, ddof=1) for source, values in noise_draws.items()}

    circuit, params, _ = trained_circuit(run)
    params = {name: jnp.asarray(value) for name, value in params.items()}
    # The linear recurrent circuit's stationary covariance does not depend on the input.
    exact_circuit = correlation_from_cov(np.asarray(circuit.response_covariance(params, jnp.asarray(
        run["x"].values[:1])), dtype=float)[0])
    keep = _pairs(active[:, None] & active[None, :])
    agreement = correlation_agreement(noise["circuit"], noise["posterior"])

    pair = ("pair",)
    data_vars = {
        "orientation_difference": variable(pair, difference[keep], "rad",
                                           "difference of the two units' preferred orientations (Gabor fits)"),
        "circuit_exact_noise_correlation": variable(pair, _pairs(exact_circuit)[keep], "1",
                                                    "the circuit's exact noise correlation (stationary covariance)"),
    }
    descriptions = {"circuit": "trained circuit", "posterior": "NUTS posterior of the sparse model"}
    relation_names = ("signal_slope", "orientation_slope")
    for source, what in descriptions.items():
        data_vars[f"{source}_noise_correlation"] = variable(pair, noise[source], "1",
                                                            f"noise correlation, mean over patches, {what}")
        data_vars[f"{source}_noise_correlation_se"] = variable(pair, noise_se[source], "1",
                                                               "its bootstrap SE over patches")
        data_vars[f"{source}_signal_correlation"] = variable(pair, signal[source], "1",
                                                             f"signal correlation over patches, {what}")
    for source in ("circuit", "posterior", "excess"):
        what = "circuit minus posterior" if source == "excess" else descriptions[source]
        values = relations[source] if source != "excess" else relations["circuit"] - relations["posterior"]
        data_vars[f"{source}_signal_slope"] = scalar(values[0], "1", f"slope of noise on signal correlation, {what}")
        data_vars[f"{source}_orientation_slope"] = scalar(values[1], "1/rad",
                                                          f"slope of noise correlation on orientation difference, "
                                                          f"{what}")
        data_vars[f"{source}_binned_noise_correlation"] = variable(
            "orientation_bin", values[2:], "1", f"mean noise correlation per orientation-difference bin, {what}")
        for i, name in enumerate(relation_names):
            data_vars[f"{source}_{name}_se"] = scalar(se[source][i], data_vars[f"{source}_{name}"].attrs["units"],
                                                      "its bootstrap SE over patches")
        data_vars[f"{source}_binned_noise_correlation_se"] = variable("orientation_bin", se[source][2:], "1",
                                                                      "its bootstrap SE over patches")
    bins = np.digitize(difference[keep], ORIENTATION_EDGES[1:-1])
    for source in ("circuit", "posterior"):
        data_vars[f"{source}_binned_noise_correlation_pair_se"] = variable(
            "orientation_bin", [noise[source][bins == b].std(ddof=1) / np.sqrt(np.sum(bins == b))
                                for b in range(len(ORIENTATION_EDGES) - 1)], "1",
            "SE of the bin's mean over its pairs (the spread across pairs, not the estimation error)")
    data_vars["noise_posterior_agreement"] = scalar(agreement["pearson"], "1", "Pearson r over pairs: circuit vs "
                                                    "posterior noise correlations")
    data_vars["noise_posterior_slope"] = scalar(agreement["slope"], "1", "slope through the origin of circuit on "
                                                "posterior noise correlations (1: the right scale)")
    data_vars["noise_posterior_rms"] = scalar(agreement["rms"], "1", "RMS difference of circuit and posterior noise "
                                              "correlations")
    data_vars["median_gabor_r_squared"] = scalar(float(run["median_gabor_r_squared"]), "1",
                                                 "median Gabor R^2 of the basis functions, active units")
    rows, cols = np.triu_indices(active.size, 1)
    centres = (ORIENTATION_EDGES[:-1] + ORIENTATION_EDGES[1:]) / 2
    coords = {"pair": index("pair", [f"{i}-{j}" for i, j in zip(rows[keep], cols[keep], strict=True)],
                            "pair of active units"),
              "orientation_bin": index("orientation_bin", centres, "bin centre, orientation difference", "rad")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, patch_size=config["patch_size"],
                          n_components=config["n_components"], n_latent=config["n_latent"], steps=config["steps"],
                          n_train=config["n_train"], n_test=config["n_test"], samples=config["samples"],
                          n_reference_draws=config["n_reference_draws"], noise_std=config["noise_std"],
                          charge=config["charge"], learn_decoder=config["learn_decoder"],
                          reference_rhat_max=float(run["reference_rhat_max"]),
                          reference_ess_bulk_min=float(run["reference_ess_bulk_min"]),
                          reference_divergences=int(run["reference_divergences"]), patches=config["patches"])


def plot(ds):
    figure, axes = new_panels(1, 3)
    ax = axes[0][0]
    identity_scatter(ax, ds["posterior_noise_correlation"].values, ds["circuit_noise_correlation"].values,
                     label=f"r = {float(ds['noise_posterior_agreement']):.2f}, "
                           f"slope = {float(ds['noise_posterior_slope']):.2f}")
    _label(ax, "posterior correlation (NUTS)", "circuit noise correlation")
    ax = axes[0][1]
    for source, label, style in (("posterior", "NUTS posterior", dict(color="k", marker="x", ls="none", ms=3)),
                                 ("circuit", "trained circuit", dict(color="C1", marker="o", ls="none", ms=3,
                                                                     alpha=0.6))):
        ax.plot(ds[f"{source}_signal_correlation"].values, ds[f"{source}_noise_correlation"].values,
                label=f"{label}: slope {float(ds[f'{source}_signal_slope']):.2f}", **style)
    ax.axhline(0, color="0.6", lw=1)
    _label(ax, "signal correlation", "noise correlation")
    ax = axes[0][2]
    centres = np.degrees(ds["orientation_bin"].values)
    for offset, source, label, color in ((-1.5, "posterior", "NUTS posterior", "k"),
                                         (1.5, "circuit", "trained circuit", "C1")):
        ax.errorbar(centres + offset, ds[f"{source}_binned_noise_correlation"].values,
                    yerr=ds[f"{source}_binned_noise_correlation_pair_se"].values, marker="o", color=color, label=label,
                    capsize=3)
    ax.axhline(0, color="0.6", lw=1)
    _label(ax, "orientation difference (deg)", "mean noise correlation")
    ax.set_title("error bars: SE over the bin's pairs", fontsize=8)
    config = config_of(ds)
    figure.suptitle(f"{config['patch_size']} x {config['patch_size']} patches, sparse coding K = {config['n_latent']} "
                    f"on {config['n_components']} components, recurrent circuit, {config['steps']} steps")
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
