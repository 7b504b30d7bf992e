"""Spontaneous against evoked activity of a circuit trained on natural-image patches (Berkes,
Orban, Lengyel & Fiser 2011: in a sampling code, spontaneous activity is the prior, and the
average evoked activity over natural scenes matches it better than over artificial stimuli).

The circuit is the patch-contrast figure's: a single-layer circuit with input-gated noise
trained on the GSM learned from whitened 8 x 8 patches (``patch_contrast.natural_image_gsm_run``).
Its response distribution given an input is Gaussian, with mean and covariance exact from
its parameters. Spontaneous activity is the response to a blank input (x = 0); the aggregate
evoked distribution of an ensemble is the equal-weight mixture of the responses to its
stimuli (``analysis.compare.mixture_moments``). Ensembles (``simulations.natural_images.
stimulus_ensembles``): held-out natural patches, and gratings and white noise processed the
same way and scaled to the natural patches' whitened norm. The same divergence is computed
for the exact posterior of the fitted GSM, the model's prediction. Divergences are KL(aggregate
evoked || spontaneous) between moment-matched Gaussians, in nats; their SEs are bootstrap SEs
over the ensemble's stimuli.
"""

from __future__ import annotations

import sys

import jax.numpy as jnp
import numpy as np

from analysis.plots import _label, new_panels
from simulations.figures._common import figure_dataset, index, main_for
from simulations.figures.patch_contrast import figure_patches, fitted_gsm, natural_image_gsm_run
from simulations.results import config_of, scalar, variable

NAME = "patch-spontaneous"
DESCRIPTION = "spontaneous vs average evoked activity of a circuit trained on patches, natural vs artificial stimuli"
ENSEMBLES = ("natural", "gratings", "white-noise")
N_STIMULI = 200  # per ensemble; the natural ones are the patch file's last, never trained on
N_BOOTSTRAP = 200


def _kl_to_spontaneous(means, covs, spontaneous_mean, spontaneous_cov):
    from analysis.compare import gaussian_kl, mixture_moments

    mean, cov = mixture_moments(means, covs)
    return float(gaussian_kl(mean, cov, spontaneous_mean, spontaneous_cov))


def _with_bootstrap_se(means, covs, spontaneous, rng):
    """The KL on all stimuli and its bootstrap SE over stimuli."""
    kl = _kl_to_spontaneous(means, covs, *spontaneous)
    draws = [_kl_to_spontaneous(means[pick], covs[pick], *spontaneous)
             for pick in rng.integers(0, len(means), (N_BOOTSTRAP, len(means)))]
    return kl, float(np.std(draws, ddof=1))


def build(seed: int = 1, quick: bool = False, progress: bool = False, natural_image_results=None, patches=None):
    """``natural_image_results``: an already trained ``run natural-images --model gsm`` Dataset,
    with ``patches``, the patch file it was trained on (default: both made as in
    ``patch_contrast``)."""
    from analysis.compare import gaussian_kl
    from simulations.natural_images import stimulus_ensembles
    from simulations.tasks import trained_circuit

    if (natural_image_results is None) != (patches is None):
        raise ValueError("give natural_image_results and patches together, or neither")
    if patches is None:
        patches = figure_patches(quick)
        natural_image_results = natural_image_gsm_run(seed, quick, progress, patches)
    run = natural_image_results
    config = config_of(run)
    if config.get("experiment") != "natural-images" or config.get("model") != "gsm":
        raise ValueError("natural_image_results must be a run natural-images Dataset of the GSM model")
    n_components, n_train = config["n_components"], config["n_train"]
    if patches.sizes["patch"] < n_train + N_STIMULI:
        raise ValueError(f"patches holds {patches.sizes['patch']} patches: fewer than the run's {n_train} "
                         f"training patches and {N_STIMULI} held-out ones")
    natural = patches["whitened"].values[-N_STIMULI:, :n_components].astype(float)
    rng = np.random.default_rng(seed)
    ensembles = stimulus_ensembles(patches, natural, rng)
    circuit, params, _ = trained_circuit(run)
    params = {name: jnp.asarray(value) for name, value in params.items()}
    model = fitted_gsm(run)

    def circuit_moments(x):
        x = jnp.asarray(x)
        return (np.asarray(circuit.mean(params, x), dtype=float),
                np.asarray(circuit.response_covariance(params, x), dtype=float))

    def exact_moments(x):
        posterior = model.posterior(x)
        return posterior.mean, posterior.cov

    blank = np.zeros((1, n_components))
    data_vars = {}
    for source, moments in (("circuit", circuit_moments), ("posterior", exact_moments)):
        spontaneous_mean, spontaneous_cov = (m[0] for m in moments(blank))
        kl, se = np.array([_with_bootstrap_se(*moments(ensembles[name]), (spontaneous_mean, spontaneous_cov), rng)
                           for name in ENSEMBLES]).T
        what = "the circuit's responses" if source == "circuit" else "the fitted GSM's exact posterior"
        data_vars[f"{source}_kl"] = variable("ensemble", kl, "nats",
                                             f"KL(aggregate evoked || spontaneous), {what}")
        data_vars[f"{source}_kl_se"] = variable("ensemble", se, "nats", "its bootstrap SE over the stimuli")
        data_vars[f"{source}_spontaneous_variance"] = scalar(float(np.trace(spontaneous_cov)) / n_components, "1",
                                                             f"mean variance given a blank input, {what}")
        data_vars[f"{source}_spontaneous_mean"] = variable("latent", spontaneous_mean, "1",
                                                           f"mean given a blank input, {what}")
        data_vars[f"{source}_spontaneous_cov"] = variable(("latent", "latent_2"), spontaneous_cov, "1",
                                                          f"covariance given a blank input, {what}")
    data_vars["spontaneous_kl"] = scalar(float(gaussian_kl(
        data_vars["circuit_spontaneous_mean"].values, data_vars["circuit_spontaneous_cov"].values,
        data_vars["posterior_spontaneous_mean"].values, data_vars["posterior_spontaneous_cov"].values)), "nats",
        "KL(circuit || exact posterior) given a blank input")
    coords = {"ensemble": index("ensemble", np.array(ENSEMBLES), "stimulus ensemble"),
              "latent": index("latent", np.arange(n_components), "latent"),
              "latent_2": index("latent_2", np.arange(n_components), "latent (second axis)")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, patch_size=config["patch_size"],
                          n_components=n_components, steps=config["steps"], n_train=n_train,
                          n_stimuli=N_STIMULI, noise_std=config["noise_std"], patches=config["patches"])


def plot(ds):
    figure, axes = new_panels(1, 1, panel_width=4.4)
    ax = axes[0][0]
    positions = np.arange(ds.sizes["ensemble"])
    for offset, source, label, color in ((-0.2, "posterior", "exact posterior (fitted GSM)", "0.3"),
                                         (0.2, "circuit", "trained circuit", "C1")):
        ax.bar(positions + offset, ds[f"{source}_kl"].values, width=0.4, yerr=ds[f"{source}_kl_se"].values,
               label=label, color=color, capsize=3)
    ax.set_xticks(positions, ds["ensemble"].values)
    _label(ax, "stimulus ensemble", "KL(evoked || spontaneous) (nats)")
    ax.set_title("evoked: average over the ensemble", fontsize=9)
    ax.legend(fontsize=8)
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
