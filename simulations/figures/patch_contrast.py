"""Response variance against contrast on natural-image patches, beside the exact posterior's
(Orban, Berkes, Fiser & Lengyel 2016: in a sampling code the variability falls as contrast
rises).

The generative model is a GSM learned from whitened 8 x 8 patches (ICA filters, noise sd fixed
at 0.3 whitened units, C by EM given it; ``simulations.natural_image_circuits``), and the
circuit a single-layer one with input-gated noise trained on it (``run natural-images
--model gsm``). The held-out patches are shown again scaled by each factor in ``CONTRASTS``
(a scaled patch is the same image at a higher contrast); per factor the figure averages over
patches the circuit's trial-averaged response and response variance across trials (RMS and
mean over latents) and the same moments of the exact posterior of the fitted GSM given the
scaled patch (quadrature over the contrast variable). At high contrast the GSM's posterior
mean grows less than in proportion to the patch (the contrast variable absorbs part of the
scale: divisive normalisation); a circuit whose mean is linear in its input cannot follow that.

The latents here are signed (a whitened-space code), so a Fano factor, which needs
non-negative rates, is not defined for them; the variance is the quantity compared.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.ticker import NullFormatter

from analysis.plots import _label, line_with_band, new_panels
from simulations.figures._common import figure_dataset, index, main_for
from simulations.results import config_of, scalar, variable

NAME = "patch-contrast"
DESCRIPTION = "response variance vs contrast of natural-image patches, with the fitted GSM's exact posterior"
#: Factors the held-out whitened patches are scaled by (1: as they are).
CONTRASTS = (0.25, 0.5, 1.0, 2.0, 4.0)
#: (patch side in pixels, whitened components = latents, patches, of which trained on,
#: held-out patches shown, response samples per patch and contrast).
SIZES = {False: (8, 16, 20_000, 16_000, 64, 400), True: (8, 16, 12_000, 10_000, 32, 200)}
PATCH_SEED = 0  # the patches are the data, fixed; ``seed`` is the circuit's training seed


def figure_patches(quick: bool):
    """The patch file behind the figure: the bundled photographs, at the figure's sizes."""
    from simulations.natural_images import make_patches

    size, n_components, n_patches = SIZES[quick][:3]
    return make_patches(PATCH_SEED, size=size, n_patches=n_patches, n_components=n_components)


def natural_image_gsm_run(seed: int, quick: bool, progress: bool = False, patches=None):
    """The ``run natural-images --model gsm`` Dataset behind the figure (default training), on
    ``patches`` (default ``figure_patches(quick)``)."""
    from simulations.natural_image_circuits import run_natural_images

    n_components, _, n_train, n_test, samples = SIZES[quick][1:]
    patches = figure_patches(quick) if patches is None else patches
    return run_natural_images(seed, patches, model="gsm", n_latent=n_components, n_train=n_train, n_test=n_test,
                              samples=samples, progress=progress)


def fitted_gsm(run):
    """The GSM a ``run natural-images --model gsm`` circuit decodes with, from its file."""
    from analysis.generative import GaussianScaleMixture

    config = config_of(run)
    return GaussianScaleMixture(run["decoder"].values, run["prior_cov"].values, config["noise_std"],
                                config["contrast_shape"], config["contrast_scale"])


def _se(values, axis=None):
    """Standard error of the mean over patches (independent draws)."""
    values = np.asarray(values)
    size = values.size if axis is None else values.shape[axis]
    return values.std(axis=axis, ddof=1) / np.sqrt(size)


def build(seed: int = 1, quick: bool = False, progress: bool = False, natural_image_results=None):
    """``natural_image_results``: an already trained ``run natural-images --model gsm`` Dataset
    to use instead of training one."""
    from simulations.experiments import _sample_responses
    from simulations.tasks import circuit_options_of, trained_circuit

    run = natural_image_results if natural_image_results is not None else natural_image_gsm_run(seed, quick, progress)
    config = config_of(run)
    if config.get("experiment") != "natural-images" or config.get("model") != "gsm":
        raise ValueError("natural_image_results must be a run natural-images Dataset of the GSM model")
    circuit, params, _ = trained_circuit(run)
    params = {name: jnp.asarray(value) for name, value in params.items()}
    model = fitted_gsm(run)
    patches = run["x"].values
    per_patch = {name: [] for name in ("response_mean", "posterior_mean", "response_variance", "posterior_variance")}
    for level, key in zip(CONTRASTS, jax.random.split(jax.random.PRNGKey(seed), len(CONTRASTS)), strict=True):
        stimuli = level * patches
        responses = np.asarray(_sample_responses(circuit, params, jnp.asarray(stimuli), key,
                                                 circuit_options_of(config))["responses"], dtype=float)
        posterior = model.posterior(stimuli)
        # Per patch: RMS over latents of the mean, and the mean over latents of the variance.
        per_patch["response_mean"].append(np.sqrt(np.mean(responses.mean(1) ** 2, axis=1)))
        per_patch["posterior_mean"].append(np.sqrt(np.mean(posterior.mean**2, axis=1)))
        per_patch["response_variance"].append(responses.var(1, ddof=1).mean(1))
        per_patch["posterior_variance"].append(np.diagonal(posterior.cov, axis1=1, axis2=2).mean(1))
    per_patch = {name: np.array(values) for name, values in per_patch.items()}  # (contrast, patch)
    descriptions = {"response_mean": "RMS over latents of the trial-averaged response",
                    "posterior_mean": "RMS over latents of the exact posterior mean",
                    "response_variance": "response variance across trials, mean over latents",
                    "posterior_variance": "exact posterior variance of the fitted GSM, mean over latents"}
    data_vars = {}
    for name, values in per_patch.items():
        data_vars[name] = variable("contrast", values.mean(1), "1", f"{descriptions[name]}, mean over patches")
        data_vars[f"{name}_se"] = variable("contrast", _se(values, axis=1), "1", "its standard error over patches")
    # Paired over patches: log of each moment at the highest contrast over that at the lowest,
    # for the circuit, the posterior and their difference (on a log scale because a ratio is
    # heavy-tailed across patches). For the typical patch the two means change alike (measured
    # 2.0-2.2 against 2.2: the posterior mean is shrunk at low contrast); their difference is
    # in the high-contrast patches, which dominate the mean over patches plotted.
    span = f"at contrast {CONTRASTS[-1]} over {CONTRASTS[0]}"
    for moment in ("mean", "variance"):
        change = {source: np.log(per_patch[f"{source}_{moment}"][-1] / per_patch[f"{source}_{moment}"][0])
                  for source in ("response", "posterior")}
        change["excess"] = change["response"] - change["posterior"]
        for source, values in change.items():
            what = "circuit minus posterior" if source == "excess" else source
            data_vars[f"{source}_log_{moment}_change"] = scalar(values.mean(), "1", f"log of the {moment} {span}, "
                                                                f"{what}, mean over patches")
            data_vars[f"{source}_log_{moment}_change_se"] = scalar(_se(values), "1", "its standard error over patches")
    # The means at the highest contrast, paired over patches (both scale with the patch's norm).
    excess = per_patch["response_mean"][-1] - per_patch["posterior_mean"][-1]
    data_vars["mean_excess_at_highest"] = scalar(excess.mean(), "1", f"circuit minus posterior RMS mean at contrast "
                                                 f"{CONTRASTS[-1]}, mean over patches")
    data_vars["mean_excess_at_highest_se"] = scalar(_se(excess), "1", "its standard error over patches")
    ratio = per_patch["response_variance"] / per_patch["posterior_variance"]
    data_vars["variance_ratio"] = variable("contrast", ratio.mean(1), "1",
                                           "response over posterior variance, mean over patches")
    data_vars["variance_ratio_se"] = variable("contrast", _se(ratio, axis=1), "1", "its standard error over patches")
    coords = {"contrast": index("contrast", CONTRASTS, "factor the held-out whitened patches are scaled by")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, patch_size=config["patch_size"],
                          n_components=config["n_components"], n_latent=config["n_latent"],
                          steps=config["steps"], n_train=config["n_train"], n_test=config["n_test"],
                          samples=config["samples"], noise_std=config["noise_std"], patches=config["patches"])


def plot(ds):
    figure, axes = new_panels(1, 3)
    contrasts = ds["contrast"].values
    for ax, moment in zip(axes[0][:2], ("mean", "variance"), strict=True):
        line_with_band(ax, contrasts, ds[f"posterior_{moment}"].values, ds[f"posterior_{moment}_se"].values,
                       label="exact posterior (fitted GSM)", color="k")
        line_with_band(ax, contrasts, ds[f"response_{moment}"].values, ds[f"response_{moment}_se"].values,
                       label="trained circuit", color="C1", marker="o")
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(NullFormatter())
        _label(ax, "contrast (patch scale factor)", "RMS mean" if moment == "mean" else "variance")
    ax = axes[0][2]
    line_with_band(ax, contrasts, ds["variance_ratio"].values, ds["variance_ratio_se"].values,
                   label="circuit / posterior", color="C1", marker="o")
    ax.axhline(1.0, color="0.6", lw=1)
    _label(ax, "contrast (patch scale factor)", "variance ratio")
    for ax in axes[0]:
        ax.set_xscale("log")
        ax.set_xticks(contrasts, [f"{c:g}" for c in contrasts], minor=False)
        ax.set_xticks([], minor=True)
    config = config_of(ds)
    figure.suptitle(f"{config['patch_size']} x {config['patch_size']} patches, GSM (noise sd "
                    f"{config['noise_std']:g}), single-layer gated circuit, {config['steps']} steps")
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
