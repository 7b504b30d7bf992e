"""Circuits trained on whitened natural-image patches (``sampling-circuits run natural-images``).

The generative model is learned from the patches (``simulations.natural_images``):

``sparse``
    Sparse coding, x = A z + noise (Olshausen & Field 1996), with a Laplace prior (default)
    or a Student t prior (``prior="student-t"``, ``prior_dof`` degrees of freedom). The
    circuit pays the prior's negative log: Q_kk |r_k| with Q_kk = 1 / b
    (``activity_form="absolute"``), or (nu + 1)/2 log(1 + Q_kk r_k^2 / nu) with
    Q_kk = 1 / b^2 (``"student-t"``); b is set from the data's variance (``laplace_scale``,
    ``student_t_scale``). It decodes with precision 1 / sigma^2. With ``learn_decoder`` the
    circuit learns its own dictionary, its columns held at unit norm; otherwise (Laplace
    only) it decodes with scikit-learn's MAP dictionary of the same model. The reference
    posterior, of the model the circuit decodes with, is sampled by NUTS (``analysis.nuts``).
``gsm``
    A Gaussian scale mixture with ICA filters and the noise sd fixed at ``noise_std``, then C
    by EM given it (``fit_noise`` fits the noise by ML as well). The circuit decodes
    with the fitted filters (or learns its own), the contrast integrated over the fitted prior,
    pays 1/2 r^T C^-1 r, and has input-gated noise (as in ``run_gsm``). The reference is the
    exact posterior of the model it decodes with (quadrature over the contrast).

The decoder's columns (basis functions: the patch each unit stands for) drawn in pixel space
are fitted with 2-D Gabors (``analysis.gabor``), beside two references on the same patches:
ICA's basis functions, and a control of random unit-norm mixtures of the whitened components
(what a filter with no learned structure scores: the low-pass whitening alone makes smooth,
partly Gabor-like images).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from analysis.compare import compare_to_gaussian
from analysis.gabor import fit_gabors, orientation_coverage
from analysis.gsm_fit import ica_filters
from circuits._validation import count, positive
from circuits.learning import Objective, train
from simulations.experiments import (
    _METRIC_DESCRIPTIONS,
    _METRIC_UNITS,
    PARAMETER_DIMS,
    TRACKED_PARAMETERS,
    _history_variables,
    _sample_responses,
)
from simulations.natural_images import (
    _ica_gsm,
    _latent_coords,
    _noise_std,
    _split,
    laplace_scale,
    sparse_dictionary,
    student_t_scale,
)
from simulations.results import new_dataset, parameter_variables, scalar, variable
from simulations.tasks import CircuitOptions, contrast_quadrature

__all__ = ["run_natural_images", "MODELS", "SPARSE_PRIORS", "basis_function_fits", "LEARNED_DICTIONARY_STEPS"]

MODELS = ("sparse", "gsm")
SPARSE_PRIORS = ("laplace", "student-t")

# The rate experiments' parameter dims, in this file's names for the input and second latent axes.
_RENAMED_DIMS = {"obs": "component", "latent_": "latent_2"}
_PARAMETER_DIMS = {name: tuple(_RENAMED_DIMS.get(dim, dim) for dim in dims) for name, dims in PARAMETER_DIMS.items()}

#: Default training steps when the circuit learns its decoder. The dictionary learns slowly:
#: on 16 x 16 patches (64 components, K = 64, seed 1) the median Gabor R^2 of the basis
#: functions was 0.63 after the rate circuits' default 3000 steps, no better than the random
#: control (0.62; the decoder columns still had |cos| 0.57 with their random start), and 0.82
#: after 15000.
LEARNED_DICTIONARY_STEPS = 15_000


def basis_function_fits(filters_pixel: np.ndarray, size: int) -> dict:
    """Gabor fits of basis functions (pixels, units) on a ``size`` x ``size`` grid: per-unit
    ``r_squared`` and ``orientation`` (radians), and their ``median_r_squared``."""
    fits = fit_gabors(filters_pixel, (size, size))
    r_squared = np.array([fit.r_squared for fit in fits])
    return {"r_squared": r_squared, "orientation": np.array([fit.orientation for fit in fits]),
            "median_r_squared": float(np.median(r_squared))}


def _random_unit_columns(rng: np.random.Generator, n_rows: int, n_columns: int) -> np.ndarray:
    columns = rng.standard_normal((n_rows, n_columns))
    return columns / np.linalg.norm(columns, axis=0)


def _reference_description(metric: str) -> str:
    """The rate experiments' description of a ``compare_to_gaussian`` metric, naming the
    reference posterior (NUTS for sparse coding) rather than an exact one."""
    return _METRIC_DESCRIPTIONS[metric].replace("exact posterior", "reference posterior")


def _reference_posterior(generative, model: str, observed: np.ndarray, seed: int, n_reference_draws: int,
                         progress: bool):
    """(mean, cov, diagnostics) of the posterior of ``generative`` given ``observed``: exact by
    quadrature for the GSM, NUTS for sparse coding (None when ``n_reference_draws`` is 0)."""
    if model == "gsm":
        exact = generative.posterior(observed)
        return exact.mean, exact.cov, {}
    if n_reference_draws == 0:
        return None, None, {}
    from analysis.nuts import nuts_posterior

    sampled = nuts_posterior(generative, observed, seed, n_draws=n_reference_draws, n_warmup=n_reference_draws,
                             progress=progress)
    return sampled.mean, sampled.cov, {
        "reference_rhat_max": scalar(float(sampled.rhat.max()), "1", "largest NUTS R-hat over stimuli and latents"),
        "reference_ess_bulk_min": scalar(float(sampled.ess_bulk.min()), "draws", "smallest NUTS bulk ESS"),
        "reference_divergences": scalar(int(sampled.divergences.sum()), "transitions", "NUTS divergences"),
    }


def run_natural_images(seed: int, patches: xr.Dataset, model: str = "sparse", n_latent: int = 32,
                       n_components: int | None = None, noise_std: float = 0.3, n_train: int = 20_000,
                       n_test: int = 16, n_reference_draws: int = 1000, active_fraction: float = 0.1,
                       prior: str = "laplace", prior_dof: float = 3.0, fit_noise: bool = False,
                       progress: bool = True, **circuit_options) -> xr.Dataset:
    """Train a circuit on whitened patches under a model learned from them (module docstring).

    Parameters
    ----------
    patches : a ``sampling-circuits patches`` Dataset.
    model : ``"sparse"`` or ``"gsm"`` (the GSM's filters are complete: ``n_latent`` must
        equal the components used).
    n_latent : K, representation neurons. n_components : D, leading whitened components used
        (default all in the file).
    noise_std : observation noise sd, whitened units: the sparse model's, and the GSM's, whose
        C is then fitted by EM given it.
    fit_noise : GSM only, fit the noise sd by ML too. On complete ICA filters it goes to about
        0.01 (8 x 8 patches, 12 components), a decoding precision near 10^4 that the circuits
        cannot train under, which is why the GSM's noise is fixed by default.
    prior, prior_dof : the sparse model's prior, ``"laplace"`` or ``"student-t"`` with
        ``prior_dof`` > 2 degrees of freedom (the t needs ``learn_decoder``: there is no MAP
        dictionary for it here).
    n_train : the first patches, trained on; n_test : the last patches, held out and shown
        to the circuit ``samples`` times each.
    n_reference_draws : NUTS draws (and as many warm-up steps) per chain, 4 chains, of the
        sparse model's reference posterior; 0 skips it.
    active_fraction : a unit is active when the RMS over test patches of its mean response
        times its decoder column's norm is at least this fraction of the largest unit's; the
        median Gabor R^2 is over active units (an unused unit's column is noise).
    circuit_options : ``CircuitOptions`` (architecture, charge, learn_decoder, cost, ...);
        with ``learn_decoder`` the steps default to ``LEARNED_DICTIONARY_STEPS``.
    """
    started = time.perf_counter()
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if circuit_options.get("learn_decoder") and circuit_options.get("steps") is None:
        circuit_options["steps"] = LEARNED_DICTIONARY_STEPS
    options = CircuitOptions(**circuit_options)
    if options.learn_precision:
        raise ValueError("learn_precision (--learn-precision): the natural-images task takes its noise from "
                         "--noise-std (sparse) or the GSM fit")
    count("seed", seed, 0)
    count("n_latent", n_latent, 1)
    count("n_reference_draws", n_reference_draws, 0)
    positive("noise_std", noise_std)
    if not 0 <= active_fraction < 1:
        raise ValueError(f"active_fraction must lie in [0, 1), got {active_fraction!r}")
    if fit_noise and model != "gsm":
        raise ValueError("fit_noise (--fit-noise) is for --model gsm: the sparse model's noise is --noise-std")
    if prior not in SPARSE_PRIORS:
        raise ValueError(f"prior must be one of {SPARSE_PRIORS}, got {prior!r}")
    if prior == "student-t":
        if model != "sparse" or not options.learn_decoder:
            raise ValueError("prior 'student-t' (--sparse-prior) is for --model sparse with --learn-decoder: "
                             "the fixed dictionary is Laplace sparse coding's")
        if not prior_dof > 2:
            raise ValueError(f"prior_dof (--prior-dof) must be > 2 for the Student t's variance to match the "
                             f"data's, got {prior_dof!r}")
    if n_components is None:
        n_components = patches.sizes["component"]
    count("n_components", n_components, 1)
    train_x, test_x = _split(patches, n_components, "n_components", n_train, count("n_test", n_test, 1), "n_test")
    rng = np.random.default_rng(seed)

    initial_decoder = _random_unit_columns(rng, n_components, n_latent)
    if model == "gsm":
        if n_latent != n_components:
            raise ValueError(f"the GSM's ICA filters are complete: n_latent ({n_latent}) must equal the components "
                             f"used ({n_components})")
        generative = _ica_gsm(train_x, seed, None if fit_noise else noise_std)
        fitted_filters = generative.A
        nodes, weights = contrast_quadrature(generative.contrast_shape, generative.contrast_scale)
        objective = Objective(decoder=initial_decoder if options.learn_decoder else generative.A,
                              decoding_precision=1.0 / _noise_std(generative) ** 2,
                              activity_cost=np.linalg.inv(generative.prior_cov), contrast_nodes=nodes,
                              contrast_weights=weights, **options.objective_options())
        circuit = options.build_circuit(n_components, n_latent, noise_gating=True)
    else:
        fixed = None if options.learn_decoder else sparse_dictionary(train_x, n_latent, noise_std, seed)
        if prior == "laplace":
            scale = laplace_scale(train_x, n_latent, noise_std)
            activity = dict(activity_cost=np.eye(n_latent) / scale, activity_form="absolute")
        else:
            scale = student_t_scale(train_x, n_latent, noise_std, prior_dof)
            activity = dict(activity_cost=np.eye(n_latent) / scale**2, activity_form="student-t",
                            activity_dof=prior_dof)
        objective = Objective(decoder=initial_decoder if options.learn_decoder else fixed.A,
                              decoding_precision=1.0 / noise_std**2, **activity,
                              decoder_norm=1.0 if options.learn_decoder else None, **options.objective_options())
        circuit = options.build_circuit(n_components, n_latent)

    key_train, key_test = jax.random.split(jax.random.PRNGKey(seed))
    params, history = train(circuit, objective, train_x, key_train, options.training_config(), progress=progress,
                            track=TRACKED_PARAMETERS)
    responses = _sample_responses(circuit, params, jnp.asarray(test_x), key_test, options)
    samples = np.asarray(responses["responses"], dtype=float)
    decoder = np.asarray(objective.decoder_of(params), dtype=float)
    if model == "gsm":
        generative = dataclasses.replace(generative, A=decoder)
    else:
        from analysis.generative import SparseCoding

        generative = SparseCoding(decoder, noise_std, prior, scale, prior_dof)
    reference_mean, reference_cov, diagnostics = _reference_posterior(generative, model, test_x, seed,
                                                                      n_reference_draws, progress)

    # Basis functions in pixel space: the circuit's, ICA's and the random control's.
    size = int(round(np.sqrt(patches.sizes["pixel"])))
    dewhitening = patches["dewhitening_matrix"].values[:, :n_components]
    activity = np.sqrt(np.mean(samples.mean(axis=1) ** 2, axis=0)) * np.linalg.norm(decoder, axis=0)
    active = activity >= active_fraction * activity.max()
    # The GSM's decoder starts from ICA's filters: fitted once, and not refitted with Gabors
    # when the circuit decodes with them unchanged.
    ica = fitted_filters if model == "gsm" else ica_filters(train_x, seed)
    control = _random_unit_columns(rng, n_components, n_latent)
    fits = {name: basis_function_fits(dewhitening @ filters, size)
            for name, filters in (("ica", ica), ("control", control))}
    circuit_fits = (fits["ica"] if model == "gsm" and not options.learn_decoder
                    else basis_function_fits(dewhitening @ decoder, size))
    fits["circuit"] = {**circuit_fits, "median_r_squared": float(np.median(circuit_fits["r_squared"][active]))}

    unit, latent_pair = ("latent",), ("latent", "latent_2")
    data_vars = {
        "x": variable(("stimulus", "component"), test_x, "1", "held-out whitened patches shown to the circuit"),
        "r": variable(("stimulus", "sample", "latent"), samples, "1", "responses of the representation neurons"),
        "decoder": variable(("component", "latent"), decoder, "1", "decoder A in use, whitened space"),
        "basis_functions": variable(("pixel", "latent"), dewhitening @ decoder, "ln I",
                                    "the circuit's decoder columns in pixel space"),
        "ica_basis_functions": variable(("pixel", "ica_unit"), dewhitening @ ica, "ln I",
                                        "ICA basis functions (mixing columns) on the same patches, pixel space"),
        "unit_activity": variable(unit, activity, "1", "RMS mean response x decoder column norm"),
        "active": variable(unit, active, "1", f"activity >= {active_fraction} x the largest"),
        "gabor_r_squared": variable(unit, fits["circuit"]["r_squared"], "1", "Gabor fit R^2 of each basis function"),
        "gabor_orientation": variable(unit, fits["circuit"]["orientation"], "rad",
                                      "orientation of the fitted Gabor's wave vector, modulo pi"),
        "ica_gabor_r_squared": variable("ica_unit", fits["ica"]["r_squared"], "1",
                                        "Gabor R^2 of ICA's basis functions"),
        "control_gabor_r_squared": variable("control_unit", fits["control"]["r_squared"], "1",
                                            "Gabor R^2 of random unit-norm mixtures of the components"),
        "orientation_coverage": variable("orientation_bin", orientation_coverage(
            fits["circuit"]["orientation"][active]), "units", "active units per orientation bin of pi / 8"),
        "median_gabor_r_squared": scalar(fits["circuit"]["median_r_squared"], "1",
                                         "median Gabor R^2 over active units"),
        "ica_median_gabor_r_squared": scalar(fits["ica"]["median_r_squared"], "1", "median Gabor R^2, ICA"),
        "control_median_gabor_r_squared": scalar(fits["control"]["median_r_squared"], "1",
                                                 "median Gabor R^2, random control"),
        "active_units": scalar(int(active.sum()), "units", "active units"),
        **_history_variables(history),
        **parameter_variables(params, dims=_PARAMETER_DIMS),
        **diagnostics,
    }
    if reference_mean is not None:
        metrics = compare_to_gaussian(samples, reference_mean, reference_cov)
        data_vars.update({
            "reference_mean": variable(("stimulus", "latent"), reference_mean, "1",
                                       "posterior mean of z under the model the circuit decodes with"),
            "reference_cov": variable(("stimulus",) + latent_pair, reference_cov, "1", "its posterior covariance"),
            **{name: scalar(value, _METRIC_UNITS.get(name, "1"), _reference_description(name))
               for name, value in metrics.items()},
        })
    coords = {"stimulus": variable("stimulus", np.arange(n_test), "1", "held-out patch"),
              "sample": variable("sample", np.arange(options.samples), "1", "response sample"),
              "component": variable("component", np.arange(n_components), "1", "whitened component"),
              "pixel": variable("pixel", np.arange(size * size), "1", "pixel, row-major"),
              **_latent_coords(n_latent),
              "ica_unit": variable("ica_unit", np.arange(ica.shape[1]), "1", "ICA component"),
              "control_unit": variable("control_unit", np.arange(n_latent), "1", "random control filter"),
              "orientation_bin": variable("orientation_bin", np.arange(8) * np.pi / 8, "rad", "bin centre"),
              "step": variable("step", np.arange(1, len(history["loss"]) + 1), "1", "optimiser step"),
              "first_layer": variable("first_layer", np.arange(np.shape(params["input_bias"])[0]), "1",
                                      "neuron of the first layer (hidden for a multi-layer circuit)")}
    if "hidden_log_noise_std" in params:
        coords["hidden"] = variable("hidden", np.arange(np.shape(params["hidden_log_noise_std"])[0]), "1",
                                    "hidden neuron")
    config = {"experiment": "natural-images", "seed": seed, "model": model, "n_latent": n_latent,
              "n_components": n_components, "noise_std": _noise_std(generative), "n_train": n_train,
              "n_test": n_test, "n_reference_draws": n_reference_draws, "active_fraction": active_fraction,
              "patch_size": size, "patches": patches.attrs.get("config", ""), "fit_noise": fit_noise,
              **options.__dict__}
    if model == "sparse":
        config.update(prior=prior, prior_scale=scale)
        if prior == "student-t":
            config["prior_dof"] = prior_dof
    else:
        config.update(contrast_shape=generative.contrast_shape, contrast_scale=generative.contrast_scale)
        data_vars["prior_cov"] = variable(latent_pair, generative.prior_cov, "1", "fitted prior covariance C of z")
    ds = new_dataset(data_vars, coords, config, "natural-images")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds
