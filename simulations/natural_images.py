"""Natural-image data sets: whitened patches written to a self-describing netCDF file.

``make_patches`` is the Python entry point of ``sampling-circuits patches``; the image
handling and the whitening are in ``analysis.patches``.
"""

from __future__ import annotations

import time

import numpy as np
import xarray as xr

from analysis.patches import LOG_OFFSET, bundled_images, extract_patches, fit_whitening, read_images
from circuits._validation import count
from simulations.results import new_dataset, variable


def make_patches(seed: int, images=None, size: int = 16, n_patches: int = 50_000,
                 n_components: int = 64) -> xr.Dataset:
    """Grey log-intensity patches of ``size`` x ``size`` pixels, DC removed, PCA-whitened
    keeping ``n_components`` components (``analysis.patches``).

    images : a folder of PNG / JPEG / TIFF / van Hateren ``.iml`` files, or None for the
        photographs bundled with scikit-image (offline).
    The file holds the whitened patches (float32), the whitening and de-whitening matrices, the
    variance of each kept component, and each patch's source image and corner, so filters can
    be shown in pixel space: pixel-space patch = mean_patch + whitened @ dewhitening_matrix.T.
    """
    started = time.perf_counter()
    count("seed", seed, 0)
    count("size", size, 1)
    count("n_patches", n_patches, 2)
    count("n_components", n_components, 1)
    if n_components > size * size - 1:
        raise ValueError(f"components must be at most size^2 - 1 = {size * size - 1} (a patch of {size} x {size} "
                         f"pixels, its mean removed), got {n_components}")
    loaded = bundled_images() if images is None else read_images(images)
    patches, source, corner, names = extract_patches(loaded, size, n_patches, np.random.default_rng(seed))
    whitening = fit_whitening(patches, n_components)
    whitened = whitening.whiten(patches).astype(np.float32)
    data_vars = {
        "whitened": variable(("patch", "component"), whitened, "1", "whitened patch: unit variance per component"),
        "whitening_matrix": variable(("component", "pixel"), whitening.whitening_matrix, "1/(ln I)",
                                     "W: whitened = (patch - mean_patch) @ W.T"),
        "dewhitening_matrix": variable(("pixel", "component"), whitening.dewhitening_matrix, "ln I",
                                       "patch (low-passed) = mean_patch + whitened @ dewhitening_matrix.T"),
        "component_variance": variable("component", whitening.variance, "(ln I)^2",
                                       "variance of the DC-removed patches along each principal component"),
        "mean_patch": variable("pixel", whitening.mean, "ln I", "mean of the DC-removed patches"),
        "source": variable("patch", source, "1", "index of the patch's image (coordinate 'image')"),
        "corner": variable(("patch", "axis"), corner, "pixels", "row and column of the patch's top-left corner"),
        "image_shape": variable(("image", "axis"), np.array([loaded[name].shape for name in names]), "pixels",
                                "rows and columns of each image"),
    }
    coords = {"image": variable("image", np.array(names), "1", "source image (file name, or scikit-image name)"),
              "component": variable("component", np.arange(n_components), "1", "principal component, largest first"),
              "pixel": variable("pixel", np.arange(size * size), "1", "pixel, row-major in the patch"),
              "axis": variable("axis", np.array(["row", "column"]), "1", "image axis"),
              "patch": variable("patch", np.arange(n_patches), "1", "patch")}
    config = {"experiment": "patches", "seed": seed, "images": "scikit-image" if images is None else str(images),
              "size": size, "n_patches": n_patches, "n_components": n_components, "log_offset": LOG_OFFSET}
    ds = new_dataset(data_vars, coords, config, "patches")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds


def _latent_variance(whitened, n_latents: int, noise_std: float) -> float:
    """The variance per latent at which K unit-norm atoms and noise sd sigma give the data's
    total variance: K v + D sigma^2 = sum of the data's variances (a modelling choice: with
    sigma it sets how sparse the codes are)."""
    whitened = np.asarray(whitened, dtype=float)
    n_obs = whitened.shape[1]
    total_variance = float(whitened.var(0).sum())
    signal_variance = total_variance - n_obs * noise_std**2
    if signal_variance <= 0:
        raise ValueError(f"noise_std {noise_std} explains all the data's variance ({total_variance:.3g} "
                         f"over {n_obs} components); choose a smaller one")
    return signal_variance / n_latents


def laplace_scale(whitened, n_latents: int, noise_std: float) -> float:
    """The Laplace prior scale b whose variance 2 b^2 is ``_latent_variance``'s: the sparse
    model with K unit-norm atoms and noise sd sigma then has the data's total variance."""
    return float(np.sqrt(_latent_variance(whitened, n_latents, noise_std) / 2.0))


def student_t_scale(whitened, n_latents: int, noise_std: float, dof: float) -> float:
    """The Student t prior scale b whose variance b^2 nu / (nu - 2) is ``_latent_variance``'s
    (nu > 2: a t with fewer degrees of freedom has no variance to match)."""
    if not dof > 2:
        raise ValueError(f"prior_dof must be > 2 for the Student t's variance to match the data's, got {dof!r}")
    return float(np.sqrt(_latent_variance(whitened, n_latents, noise_std) * (dof - 2.0) / dof))


def sparse_dictionary(whitened, n_latents: int, noise_std: float, seed: int):
    """A sparse-coding model of whitened patches (``analysis.generative.SparseCoding``, Laplace prior).

    The prior scale b is ``laplace_scale``'s. The K atoms are learned by scikit-learn's
    mini-batch dictionary learning, whose objective |x - A u|^2 / 2 + alpha |u|_1 is the MAP
    learning rule of this same model (Olshausen & Field 1996) when alpha = sigma^2 / b.
    """
    from sklearn.decomposition import MiniBatchDictionaryLearning

    from analysis.generative import SparseCoding

    whitened = np.asarray(whitened, dtype=float)
    prior_scale = laplace_scale(whitened, n_latents, noise_std)
    learner = MiniBatchDictionaryLearning(n_components=n_latents, alpha=noise_std**2 / prior_scale,
                                          batch_size=256, max_iter=20, random_state=seed)
    atoms = learner.fit(whitened).components_.T
    atoms = atoms / np.linalg.norm(atoms, axis=0)
    return SparseCoding(atoms, noise_std, "laplace", prior_scale)


def _split(patches: xr.Dataset, n_components: int, components_name: str, n_fit: int, n_held_out: int,
           held_out_name: str) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n_fit`` and the last ``n_held_out`` patches, their ``n_components`` leading
    whitened components, as float64; ValueError naming the option that asks for too much."""
    available = patches.sizes["component"]
    if n_components > available:
        raise ValueError(f"{components_name} must be at most the file's {available} components, got {n_components}")
    if n_fit + n_held_out > patches.sizes["patch"]:
        raise ValueError(f"n_fit + {held_out_name} ({n_fit + n_held_out}) exceeds the file's "
                         f"{patches.sizes['patch']} patches")
    whitened = patches["whitened"].values[:, :n_components].astype(float)
    return whitened[:n_fit], whitened[-n_held_out:]


def _ica_gsm(train: np.ndarray, seed: int, noise_std: float | None = None):
    """A GSM with complete ICA filters, then C and the noise by EM (``analysis.gsm_fit``), or C
    alone with the noise sd fixed at ``noise_std`` (whitened units)."""
    from analysis.gsm_fit import fit_gsm, ica_filters

    if noise_std is None:
        return fit_gsm(train, ica_filters(train, seed)).model
    return fit_gsm(train, ica_filters(train, seed), noise_var=noise_std**2, fit_noise=False).model


def _latent_coords(n_latents: int) -> dict:
    return {"latent": variable("latent", np.arange(n_latents), "1", "latent"),
            "latent_2": variable("latent_2", np.arange(n_latents), "1", "latent (second axis)")}


def _noise_std(model) -> float:
    return float(np.atleast_1d(model.noise_std)[0])


def posterior_reference(patches: xr.Dataset, model: str, n_latents: int, seed: int, n_observations: int = 16,
                        n_components: int | None = None, n_chains: int = 4, n_draws: int = 1000,
                        n_warmup: int = 1000, n_fit: int = 10_000, noise_std: float = 0.3,
                        progress: bool = False) -> xr.Dataset:
    """A generative model fitted to whitened patches and its NUTS reference posterior on held-out patches.

    model : ``"gsm"``: ICA filters (complete: ``n_latents`` must equal the components used),
        then C and the noise by EM (``analysis.gsm_fit``); its exact posterior moments by
        quadrature are stored beside NUTS's, with their KL (the validation of the reference).
        ``"sparse"``: a Laplace sparse-coding model with ``n_latents`` learned atoms
        (``sparse_dictionary``, with ``noise_std`` in whitened units); NUTS is the reference.
    n_components : leading whitened components used (default: all in the file).
    n_fit : patches the model is fitted on (the first ones); the observations are the last
        ``n_observations`` patches, never seen by the fit.
    The file stores, per observation, the NUTS moments and their convergence diagnostics
    (R-hat, bulk/tail ESS, divergences; ``analysis.nuts``), and the filters in pixel space.
    """
    from analysis.nuts import ESS_BAR, RHAT_BAR, moment_kl_floor, nuts_posterior

    started = time.perf_counter()
    if model not in ("gsm", "sparse"):
        raise ValueError(f"model must be 'gsm' or 'sparse', got {model!r}")
    count("seed", seed, 0)
    count("n_latents", n_latents, 1)
    count("n_observations", n_observations, 1)
    count("n_fit", n_fit, 2)
    if n_components is None:
        n_components = patches.sizes["component"]
    train, observed = _split(patches, count("n_components", n_components, 1), "n_components", n_fit,
                             n_observations, "n_observations")
    if model == "gsm":
        if n_latents != n_components:
            raise ValueError(f"the GSM's ICA filters are complete: n_latents ({n_latents}) must equal the "
                             f"components used ({n_components})")
        generative = _ica_gsm(train, seed)
    else:
        generative = sparse_dictionary(train, n_latents, noise_std, seed)
    sampled = nuts_posterior(generative, observed, seed, n_chains=n_chains, n_draws=n_draws, n_warmup=n_warmup,
                             progress=progress)
    obs_latent, obs_pair = ("observation", "latent"), ("observation", "latent", "latent_2")
    data_vars = {
        "observed": variable(("observation", "component"), observed, "1", "held-out whitened patches"),
        "filters": variable(("component", "latent"), generative.A, "1", "generative filters A, whitened space"),
        "filters_pixel": variable(("pixel", "latent"), patches["dewhitening_matrix"].values[:, :n_components]
                                  @ generative.A, "ln I", "generative filters in pixel space"),
        "nuts_mean": variable(obs_latent, sampled.mean, "1", "NUTS posterior mean of z"),
        "nuts_cov": variable(obs_pair, sampled.cov, "1", "NUTS posterior covariance of z"),
        "rhat": variable(obs_latent, sampled.rhat, "1", "rank-normalised split R-hat"),
        "ess_bulk": variable(obs_latent, sampled.ess_bulk, "draws", "bulk effective sample size"),
        "ess_tail": variable(obs_latent, sampled.ess_tail, "draws", "tail effective sample size (5%, 95%)"),
        "ess_second": variable(obs_latent, sampled.ess_second, "draws",
                               "effective sample size of the squared deviations"),
        "divergences": variable("observation", sampled.divergences, "transitions", "divergent transitions"),
        "converged": variable("observation", sampled.converged, "1",
                              f"R-hat < {RHAT_BAR}, bulk and tail ESS > {ESS_BAR:g}, no divergence"),
        "nuts_wall_time": variable((), sampled.wall_time_s, "s", "NUTS wall time, compilation included"),
        "kl_floor": variable("observation", moment_kl_floor(n_latents, sampled.ess_bulk.min(1),
                                                              sampled.ess_second.min(1)), "nats",
                             "expected moment KL from sampling error alone (analysis.nuts.moment_kl_floor)"),
    }
    if model == "gsm":
        from analysis.compare import gaussian_kl

        exact = generative.posterior(observed)
        data_vars.update({
            "exact_mean": variable(obs_latent, exact.mean, "1", "exact posterior mean of z (quadrature)"),
            "exact_cov": variable(obs_pair, exact.cov, "1", "exact posterior covariance of z (quadrature)"),
            "kl_moments": variable("observation", gaussian_kl(sampled.mean, sampled.cov, exact.mean, exact.cov),
                                   "nats", "KL(NUTS moment-matched Gaussian || exact moment-matched Gaussian)"),
            "prior_cov": variable(("latent", "latent_2"), generative.prior_cov, "1", "fitted prior covariance C"),
        })
    coords = {"observation": variable("observation", np.arange(n_observations), "1", "held-out patch"),
              **_latent_coords(n_latents)}
    config = {"experiment": "posterior-reference", "seed": seed, "model": model, "n_latents": n_latents,
              "n_components": n_components, "n_observations": n_observations, "n_chains": n_chains,
              "n_draws": n_draws, "n_warmup": n_warmup, "n_fit": n_fit, "patches": patches.attrs.get("config", ""),
              "noise_std": _noise_std(generative)}
    if model == "sparse":
        config["prior_scale"] = generative.prior_scale
    else:
        config.update(contrast_shape=generative.contrast_shape, contrast_scale=generative.contrast_scale)
    ds = new_dataset(data_vars, coords, config, "posterior-reference")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds


def stimulus_ensembles(patches: xr.Dataset, natural: np.ndarray, rng: np.random.Generator) -> dict:
    """Berkes et al.'s (2011) stimulus ensembles in the whitened space of ``patches``: the
    natural patches ``natural`` (S, D) as given, and as many sinusoidal gratings and white-noise
    patches (``analysis.patches``) processed the same way (DC removed, the file's whitening onto
    its D leading components) and scaled to the natural patches' mean squared whitened norm."""
    from analysis.patches import gratings, white_noise

    n_stimuli, n_components = natural.shape
    size = int(round(np.sqrt(patches.sizes["pixel"])))
    target_norm = float(np.mean((natural**2).sum(1)))
    whitening = patches["whitening_matrix"].values[:n_components]
    ensembles = {"natural": natural}
    artificial = {"gratings": gratings(size, n_stimuli, rng), "white-noise": white_noise(size, n_stimuli, rng)}
    for name, stimuli in artificial.items():
        projected = (stimuli - patches["mean_patch"].values) @ whitening.T
        ensembles[name] = projected * np.sqrt(target_norm / np.mean((projected**2).sum(1)))
    return ensembles


def spontaneous_evoked_prediction(patches: xr.Dataset, n_latents: int, seed: int, n_stimuli: int = 200,
                                  n_fit: int = 10_000) -> xr.Dataset:
    """The exact GSM's prediction for Berkes et al.'s (2011) test on natural images.

    A GSM (ICA filters on the ``n_latents`` leading whitened components, C and the noise by
    EM) is fitted to the first ``n_fit`` patches. Spontaneous activity is its exact posterior
    given a blank input (x = 0); the aggregate evoked distribution of an ensemble is the
    equal-weight mixture of its exact posteriors (``analysis.compare.mixture_moments``) over
    ``n_stimuli`` stimuli. Ensembles: held-out natural patches, and two artificial ones
    processed the same way (DC removed, the file's whitening) and scaled to the natural
    patches' mean squared whitened norm: sinusoidal gratings and white noise
    (``analysis.patches``). The model predicts KL(aggregate evoked || spontaneous) is smallest
    for natural patches; the file records all three, and each ensemble's KL to the prior.
    All distributions are compared by their moment-matched Gaussians (KL in nats).
    """
    from analysis.compare import gaussian_kl, mixture_moments

    count("seed", seed, 0)
    count("n_stimuli", n_stimuli, 2)
    count("n_fit", n_fit, 2)
    train, natural = _split(patches, count("n_latents", n_latents, 1), "n_latents", n_fit, n_stimuli, "n_stimuli")
    model = _ica_gsm(train, seed)
    ensembles = stimulus_ensembles(patches, natural, np.random.default_rng(seed))
    target_norm = float(np.mean((natural**2).sum(1)))
    blank = model.posterior(np.zeros((1, n_latents)))
    spontaneous_mean, spontaneous_cov = blank.mean[0], blank.cov[0]
    names = list(ensembles)
    kl_spontaneous, kl_prior = [], []
    aggregate_means, aggregate_covs = [], []
    for name in names:
        posterior = model.posterior(ensembles[name])
        mean, cov = mixture_moments(posterior.mean, posterior.cov)
        aggregate_means.append(mean)
        aggregate_covs.append(cov)
        kl_spontaneous.append(float(gaussian_kl(mean, cov, spontaneous_mean, spontaneous_cov)))
        kl_prior.append(float(gaussian_kl(mean, cov, np.zeros(n_latents), model.prior_cov)))
    data_vars = {
        "kl_evoked_spontaneous": variable("ensemble", kl_spontaneous, "nats",
                                          "KL(aggregate evoked || spontaneous), moment-matched Gaussians"),
        "kl_evoked_prior": variable("ensemble", kl_prior, "nats", "KL(aggregate evoked || prior)"),
        "kl_spontaneous_prior": variable((), float(gaussian_kl(spontaneous_mean, spontaneous_cov, np.zeros(n_latents),
                                                                model.prior_cov)), "nats",
                                         "KL(spontaneous || prior): the blank-input posterior is not the prior"),
        "aggregate_mean": variable(("ensemble", "latent"), np.array(aggregate_means), "1",
                                   "mean of the aggregate evoked posterior"),
        "aggregate_cov": variable(("ensemble", "latent", "latent_2"), np.array(aggregate_covs), "1",
                                  "covariance of the aggregate evoked posterior"),
        "spontaneous_mean": variable("latent", spontaneous_mean, "1", "exact posterior mean given x = 0"),
        "spontaneous_cov": variable(("latent", "latent_2"), spontaneous_cov, "1",
                                    "exact posterior covariance given x = 0"),
        "prior_cov": variable(("latent", "latent_2"), model.prior_cov, "1", "fitted prior covariance C"),
        "filters": variable(("component", "latent"), model.A, "1", "ICA filters, whitened space"),
        "stimulus_norm": variable((), target_norm, "1", "mean squared whitened norm of every ensemble's stimuli"),
    }
    coords = {"ensemble": variable("ensemble", np.array(names), "1", "stimulus ensemble"), **_latent_coords(n_latents)}
    config = {"experiment": "spontaneous-evoked-prediction", "seed": seed, "n_latents": n_latents,
              "n_stimuli": n_stimuli, "n_fit": n_fit, "noise_std": _noise_std(model),
              "patches": patches.attrs.get("config", "")}
    return new_dataset(data_vars, coords, config, "spontaneous-evoked-prediction")
