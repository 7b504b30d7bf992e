"""Named experiments: wire a circuit to a task, train, simulate, score; return an xarray.Dataset.

``run_linear_gaussian`` and ``run_gsm`` back the ``sampling-circuits run linear-gaussian`` and
``sampling-circuits run gsm`` commands. Everything random derives from ``seed``: NumPy's
generator for the task and its data, a JAX key for the circuit.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from analysis.compare import compare_to_gaussian, gaussian_kl, mean_field_kl_floor, moment_match
from analysis.generative import LinearGaussian
from analysis.gsm_posterior import best_gaussian, gaussian_kl_to_posterior
from analysis.linear_models import heldout_loglik, ml_marginal_cov
from circuits._validation import count
from circuits.learning import Objective, train
from circuits.optimum import check_linear, data_moments, expected_objective, optimal_circuit, response_moments
from circuits.recurrent import RecurrentCircuit
from simulations.results import new_dataset, parameter_variables, scalar, variable
from simulations.tasks import (
    ARCHITECTURES,
    DEFAULT_PRIOR_CORRELATION,
    DEFAULT_STEPS,
    CircuitOptions,
    check_options,
    contrast_quadrature,
    default_loading_matrix,
    gsm_model,
    linear_gaussian_model,
    refuse_learned_model,
    task_prior_cov,
    trained_circuit,
)

# ARCHITECTURES, CircuitOptions, ... live in simulations.tasks and are re-exported for convenience.
__all__ = ["run_linear_gaussian", "run_gsm", "implied_model", "response_gaussian", "gsm_contrast_metrics",
           "gsm_task_data",
           "ARCHITECTURES", "DEFAULT_STEPS", "CircuitOptions",
           "trained_circuit", "check_options", "default_loading_matrix", "linear_gaussian_model", "gsm_model",
           "contrast_quadrature", "task_prior_cov", "DEFAULT_PRIOR_CORRELATION"]

_METRIC_UNITS = {name: "nats" for name in (
    "kl_moment_matched", "mean_field_floor", "kl_true_posterior", "kl_implied_posterior", "implied_mean_field_floor",
    "objective_gap", "optimum_kl_implied", "optimal_objective", "trained_objective", "heldout_loglik_implied",
    "heldout_loglik_true", "heldout_loglik_ml", "implied_marginal_kl_to_ml")}
_METRIC_DESCRIPTIONS = {
    "kl_true_posterior": "median over stimuli of KL(moment-matched responses || exact posterior of the true model); "
                         "with a learned decoder this compares latents in different bases (large by construction)",
    "kl_implied_posterior": "median over stimuli of KL(moment-matched responses || exact posterior of the model "
                            "the circuit implies: z ~ N(0, Q^-1), x | z ~ N(A z, P^-1))",
    "implied_mean_field_floor": "smallest KL to the implied posterior reachable with independent output noise",
    "kl_floor_ratio": "kl_true_posterior / mean_field_floor (true decoder only: a learned decoder's latent "
                      "basis is identified only up to a rotation, so its KL to the true posterior is not a distance "
                      "between posteriors of the same variables)",
    "optimum_kl_implied": "KL of the closed-form optimal circuit to its own implied posterior (learned decoder)",
    "objective_gap": "closed-form objective of the trained circuit minus the optimum's, per input",
    "optimal_objective": "closed-form optimum of the training objective for this architecture, per input",
    "trained_objective": "closed-form objective of the trained circuit, per input",
    "optimum_kl_floor_ratio": "kl_floor_ratio of the closed-form optimal circuit (exact KL, no sampling)",
    "heldout_loglik_implied": "held-out log-likelihood under the implied model, per input dimension",
    "heldout_loglik_true": "held-out log-likelihood under the true model, per input dimension",
    "heldout_loglik_ml": "held-out log-likelihood under the maximum-likelihood model of the implied family "
                         "(pPCA or factor analysis) fitted to the training data, per input dimension",
    "implied_marginal_kl_to_ml": "KL(N(0, implied marginal cov) || N(0, ML marginal cov)) per input dimension",
    "kl_moment_matched": "mean over stimuli of KL(moment-matched responses || exact posterior)",
    "mean_field_floor": "smallest KL reachable with independent output noise",
    "mean_error_sd": "mean |response mean - posterior mean| in posterior sds",
    "cov_relative_error": "mean Frobenius error of the response covariance, relative",
    "variance_ratio": "mean response variance / posterior variance",
    "noise_correlation_match": "correlation of response noise correlations with posterior correlations",
    "noise_correlation_slope": "slope through the origin of response noise correlations on posterior correlations "
                               "(1: the right scale)",
    "noise_correlation_rms": "RMS difference of response noise correlations and posterior correlations",
    "coverage_50": "fraction of true latents in the responses' central 50% interval (exact: 0.5)",
    "coverage_90": "fraction of true latents in the responses' central 90% interval (exact: 0.9)",
    "response_variance_input_slope": "least-squares slope over test stimuli of log mean response variance on "
                                     "log |x|",
    "posterior_variance_input_slope": "least-squares slope over test stimuli of log mean posterior variance on "
                                      "log |x| (0 for the linear-Gaussian posterior)",
}


def _sample_responses(circuit, params, x, key, options: CircuitOptions) -> dict:
    if isinstance(circuit, RecurrentCircuit):
        burn_in_steps = int(round(options.burn_in / options.dt))
        return circuit.sample(params, x, key, options.samples, burn_in_steps=burn_in_steps)
    return circuit.sample(params, x, key, options.samples)


def _circuit_outputs(circuit, params, x, responses: dict, posterior_mean, posterior_cov, z_true) -> dict:
    """Response, covariance and comparison variables common to the experiments."""
    data_vars = {
        "r": variable(("stimulus", "sample", "latent"), np.asarray(responses["responses"], dtype=float), "1",
                      "responses of the representation neurons (latent units)"),
        "model_response_cov": variable(("stimulus", "latent", "latent_"),
                                       np.asarray(circuit.response_covariance(params, jnp.asarray(x)), dtype=float),
                                       "1", "the circuit's exact response covariance Cov(r | x)"),
    }
    if "hidden" in responses:
        data_vars["r_hidden"] = variable(("stimulus", "sample", "hidden"), np.asarray(responses["hidden"], float),
                                         "1", "hidden-layer responses")
    metrics = compare_to_gaussian(np.asarray(responses["responses"], dtype=float), posterior_mean,
                                  posterior_cov, z_true)
    metrics.update(variance_input_slopes(x, np.asarray(responses["responses"], dtype=float), posterior_cov))
    return data_vars, metrics


def variance_input_slopes(x, responses, posterior_cov) -> dict:
    """How response variability depends on the input: least-squares slopes, across stimuli, of
    the log mean (over neurons) response variance on log |x|, for the samples (``responses``
    (n, samples, K)) and the exact posterior (``posterior_cov``, (K, K) or (n, K, K)). Neuron
    noise gives the linear-Gaussian posterior's slope of 0; synaptic noise grows with |x|."""
    log_norm = np.log(np.linalg.norm(np.asarray(x, dtype=float), axis=1))
    exact = np.broadcast_to(posterior_cov, (len(log_norm), *np.shape(posterior_cov)[-2:]))
    variances = {"response_variance_input_slope": responses.var(axis=1, ddof=1).mean(-1),
                 "posterior_variance_input_slope": np.diagonal(exact, axis1=-2, axis2=-1).mean(-1)}
    return {name: float(np.polyfit(log_norm, np.log(variance), 1)[0]) for name, variance in variances.items()}


def _parameter_coords(params) -> dict:
    """Index coordinates of the parameter dims that no other variable defines."""
    coords = {"first_layer": variable("first_layer", np.arange(np.shape(params["input_bias"])[0]), "1",
                                      "neuron of the first layer (hidden for a multi-layer circuit)")}
    if "mean_encoder_bias" in params:
        coords["encoder_hidden"] = variable("encoder_hidden", np.arange(np.shape(params["mean_encoder_bias"])[0]),
                                            "1", "hidden unit of the MLP encoder (deterministic)")
    if "gate_encoder_readout" in params:
        coords["gated_neuron"] = variable("gated_neuron", np.arange(np.shape(params["gate_encoder_readout"])[0]), "1",
                                          "neuron whose noise sd the gate network sets: the representation "
                                          "neurons, then the hidden ones")
    if "log_decoding_precision" in params:
        coords["precision"] = variable("precision", np.arange(np.shape(params["log_decoding_precision"])[0]), "1",
                                       "learned decoding precision component (one if isotropic)")
    return coords


def _coords(n_stimuli, n_samples, n_obs, n_latent, n_steps, n_hidden=0):
    coords = {
        "stimulus": variable("stimulus", np.arange(n_stimuli), "1", "test stimulus index"),
        "sample": variable("sample", np.arange(n_samples), "1", "response sample (trial) index"),
        "obs": variable("obs", np.arange(n_obs), "1", "input dimension"),
        "latent": variable("latent", np.arange(n_latent), "1", "latent / representation neuron"),
        "latent_": variable("latent_", np.arange(n_latent), "1", "second latent axis of covariances"),
        "step": variable("step", np.arange(1, n_steps + 1), "1", "optimiser step"),
    }
    if n_hidden:
        coords["hidden"] = variable("hidden", np.arange(n_hidden), "1", "hidden neuron")
    return coords


#: Named dims of the rate circuits' parameters (``first_layer``: the neurons the input reaches
#: first: the representation neurons of a single-layer or recurrent circuit, the hidden ones of
#: a multi-layer circuit), so that files of different architectures merge (``load_sweep``).
PARAMETER_DIMS = {
    "input_weights": ("first_layer", "obs"), "input_bias": ("first_layer",), "log_noise_std": ("latent",),
    "hidden_log_noise_std": ("hidden",), "readout_weights": ("latent", "hidden"), "readout_bias": ("latent",),
    "recurrent_weights": ("latent", "latent_"), "gate_weights": ("latent", "obs"), "decoder": ("obs", "latent"),
    "log_decoding_precision": ("precision",), "input_log_weight_std": ("first_layer", "obs"),
    "readout_log_weight_std": ("latent", "hidden"),
    **{f"{head}_encoder_{part}": dims for head in ("mean", "gate")
       for part, dims in (("weights", ("encoder_hidden", "obs")), ("bias", ("encoder_hidden",)))},
    "mean_encoder_readout": ("latent", "encoder_hidden"), "gate_encoder_readout": ("gated_neuron", "encoder_hidden"),
}

#: Parameters recorded during training (every 100 steps): the noise sds, to show they converge.
TRACKED_PARAMETERS = ("log_noise_std", "hidden_log_noise_std", "input_log_weight_std", "readout_log_weight_std")


def _history_variables(history) -> dict:
    out = {}
    for name in history.data_vars:
        if name.startswith("trace_"):
            parameter = name[len("trace_"):]
            out[name] = variable(("check",) + PARAMETER_DIMS[parameter], history[name].values, "1",
                                 f"{parameter} (log of the noise sd in latent units) during training")
        else:
            out[name] = variable("step", history[name].values, history[name].attrs["units"],
                                 history[name].attrs["description"])
    if "check_step" in history.coords:
        out["check"] = variable("check", history["check_step"].values, "1",
                                "optimiser step after which trace_* was recorded")
    return out


def _common_variables(model, x, z, posterior_mean, circuit_vars, metrics, history, params) -> dict:
    """The variables every rate-circuit experiment writes: task, test inputs, responses, metrics, training."""
    return {
        "A": variable(("obs", "latent"), model.A, "1", "generative weights"),
        "noise_std": variable("obs", model.noise_std, "1", "observation noise sd"),
        "prior_cov": variable(("latent", "latent_"), model.prior_cov, "1", "prior covariance of z"),
        "x": variable(("stimulus", "obs"), x, "1", "held-out test inputs"),
        "z": variable(("stimulus", "latent"), z, "1", "true latents of the test inputs"),
        "posterior_mean": variable(("stimulus", "latent"), posterior_mean, "1", "exact posterior mean"),
        **circuit_vars,
        **{name: scalar(value, _METRIC_UNITS.get(name, "1"), _METRIC_DESCRIPTIONS[name])
           for name, value in metrics.items()},
        **_history_variables(history),
        **parameter_variables(params, dims=PARAMETER_DIMS),
    }


def _median_kl(samples, mean, cov) -> float:
    sample_mean, sample_cov = moment_match(samples)
    return float(np.median(gaussian_kl(sample_mean, sample_cov, mean, np.broadcast_to(cov, sample_cov.shape))))


def implied_model(objective: Objective, params) -> LinearGaussian:
    """The generative model a trained objective implies: z ~ N(0, Q^-1), x | z ~ N(A z, P^-1),
    with A and P learned or fixed and Q the activity cost as charged."""
    if objective.activity_form != "quadratic":
        raise ValueError(f"the implied model is Gaussian for the quadratic activity cost only, got "
                         f"{objective.activity_form!r}")
    return LinearGaussian(np.asarray(objective.decoder_of(params), dtype=float),
                          1.0 / np.sqrt(np.asarray(objective.precision_of(params), dtype=float)),
                          np.linalg.inv(objective.charged_activity_cost))


# Compiled once per circuit (static) and shapes; the parameters, objective and moments are arguments.
_expected_loss = jax.jit(lambda circuit, params, objective, mean, second: expected_objective(
    circuit, params, objective, mean, second)["loss"], static_argnums=0)
_response_moments = jax.jit(response_moments, static_argnums=0)


def _optimum_metrics(circuit, params, objective, train_x, x_test, true_model, seed) -> dict:
    """Closed-form objective of the trained circuit, its optimum and the optimum's KL / floor."""
    mean, second = data_moments(train_x)
    optimum, optimum_terms = optimal_circuit(circuit, objective, mean, second, jax.random.PRNGKey(seed),
                                             initial_params=params)
    # Compiled, not eager: each eager float64 operation would compile on its own.
    with jax.enable_x64(True):
        trained = {k: np.asarray(v, dtype=float) for k, v in params.items()}
        trained_loss = float(_expected_loss(circuit, trained, objective, mean, second))
        moments = {k: np.asarray(v, dtype=float) for k, v in _response_moments(circuit, optimum).items()}
    reference = true_model if not objective.learn_decoder else implied_model(objective, optimum)
    posterior = reference.posterior(x_test)
    response_mean = x_test @ moments["weights"].T + moments["bias"]
    response_cov = moments["covariance"][: circuit.n_output, : circuit.n_output]
    kl = float(np.median(gaussian_kl(response_mean, response_cov, posterior.mean, posterior.cov)))
    metrics = {"trained_objective": trained_loss, "optimal_objective": optimum_terms["loss"],
               "objective_gap": trained_loss - optimum_terms["loss"]}
    if objective.learn_decoder:
        metrics["optimum_kl_implied"] = kl
    else:
        metrics["optimum_kl_floor_ratio"] = kl / mean_field_kl_floor(reference.posterior_precision)
    return metrics


def run_linear_gaussian(seed: int, n_latent: int = 4, n_input: int = 8, noise_std: float = 1.0,
                        n_train: int = 20_000, n_test: int = 20, prior: str = "identity",
                        prior_correlation: float | None = None, n_heldout: int = 5000, closed_form: bool = True,
                        progress: bool = True, **circuit_options) -> xarray.Dataset:  # noqa: F821
    """Train a circuit on a linear-Gaussian task and score its responses against the exact posterior.

    Task: z ~ N(0, C), x = A z + noise_std * eps with A i.i.d. N(0, 1) (D = n_input) and C
    the identity (``prior="identity"``) or a random correlation matrix
    (``prior="correlated"``, ``analysis.linear_models.correlated_prior_cov`` with
    ``prior_correlation``). K > D (overcomplete) is allowed.
    Objective: with the true decoder, the negative ELBO form (decoder A, decoding precision
    1 / noise_std^2, activity cost = prior precision C^-1) plus the chosen reliability cost;
    with ``learn_decoder`` the decoder starts random, the activity cost is the fixed
    metabolic constant Q = I, and ``learn_precision`` learns P too (starting from 1 / the
    mean data variance).
    Every file holds the model the circuit implies (``decoder``, ``decoding_precision``,
    ``activity_cost``), its posterior, and the responses' KL to both posteriors; held-out
    log-likelihoods under the implied, true and maximum-likelihood models (``n_heldout``
    fresh inputs); and, for linear circuits (``closed_form``), the gap between the trained
    circuit's objective and the closed-form optimum (``circuits.optimum``).
    ``circuit_options`` are the fields of ``CircuitOptions``.
    """
    options = CircuitOptions(**circuit_options)
    count("seed", seed, 0)
    for name, value in (("n_latent", n_latent), ("n_input", n_input), ("n_train", n_train), ("n_test", n_test),
                        ("n_heldout", n_heldout)):
        count(name, value, 1)
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    model = linear_gaussian_model(rng, n_latent, n_input, noise_std, prior, prior_correlation)
    _, train_x = model.sample(n_train, rng)
    z_test, x_test = model.sample(n_test, rng)
    posterior = model.posterior(x_test)

    circuit = options.build_circuit(n_input, n_latent)
    if options.learn_decoder:
        data_variance = float(np.mean(train_x**2))
        decoder = rng.normal(size=(n_input, n_latent)) * np.sqrt(data_variance / n_latent)
        activity_cost = np.eye(n_latent)
    else:
        decoder, activity_cost = model.A, model.prior_precision
    precision = 1.0 / float(np.mean(train_x**2)) if options.learn_precision else 1.0 / model.noise_std**2
    objective = Objective(decoder=decoder, decoding_precision=precision, activity_cost=activity_cost,
                          **options.objective_options())
    key_train, key_test = jax.random.split(jax.random.PRNGKey(seed))
    params, history = train(circuit, objective, train_x, key_train, options.training_config(), progress=progress,
                            track=TRACKED_PARAMETERS)
    responses = _sample_responses(circuit, params, jnp.asarray(x_test), key_test, options)
    circuit_vars, metrics = _circuit_outputs(circuit, params, x_test, responses, posterior.mean, posterior.cov, z_test)
    metrics["mean_field_floor"] = mean_field_kl_floor(model.posterior_precision)

    implied = implied_model(objective, params)
    implied_posterior = implied.posterior(x_test)
    samples = np.asarray(responses["responses"], dtype=float)
    metrics["kl_true_posterior"] = _median_kl(samples, posterior.mean, posterior.cov)
    metrics["kl_implied_posterior"] = _median_kl(samples, implied_posterior.mean, implied_posterior.cov)
    metrics["implied_mean_field_floor"] = mean_field_kl_floor(implied.posterior_precision)
    if not options.learn_decoder:
        metrics["kl_floor_ratio"] = metrics["kl_true_posterior"] / metrics["mean_field_floor"]
    _, x_heldout = model.sample(n_heldout, rng)
    ml_cov = ml_marginal_cov(train_x, n_latent, objective.precision_shape if options.learn_precision else "isotropic")
    metrics["heldout_loglik_implied"] = heldout_loglik(x_heldout, implied.marginal_cov)
    metrics["heldout_loglik_true"] = heldout_loglik(x_heldout, model.marginal_cov)
    metrics["heldout_loglik_ml"] = heldout_loglik(x_heldout, ml_cov)
    metrics["implied_marginal_kl_to_ml"] = float(gaussian_kl(np.zeros(n_input), implied.marginal_cov,
                                                             np.zeros(n_input), ml_cov)) / n_input
    if closed_form:
        try:
            check_linear(circuit, objective)
        except ValueError:
            pass  # no closed form for this circuit: no objective_gap
        else:
            metrics.update(_optimum_metrics(circuit, params, objective, train_x, x_test, model, seed))

    data_vars = {
        **_common_variables(model, x_test, z_test, posterior.mean, circuit_vars, metrics, history, params),
        "posterior_cov": variable(("latent", "latent_"), posterior.cov, "1", "exact posterior covariance"),
        "decoder": variable(("obs", "latent"), implied.A, "1", "decoder A of the implied generative model"),
        "decoding_precision": variable("obs", 1.0 / implied.noise_std**2, "1",
                                       "decoding precision P of the implied model (1 / observation variance)"),
        "activity_cost": variable(("latent", "latent_"), objective.charged_activity_cost, "1",
                                  "activity cost Q as charged; the implied prior is N(0, Q^-1)"),
        "implied_posterior_mean": variable(("stimulus", "latent"), implied_posterior.mean, "1",
                                           "exact posterior mean of the implied model"),
        "implied_posterior_cov": variable(("latent", "latent_"), implied_posterior.cov, "1",
                                          "exact posterior covariance of the implied model"),
    }
    n_hidden = responses["hidden"].shape[-1] if "hidden" in responses else 0
    config = {"experiment": "linear-gaussian", "seed": seed, "n_latent": n_latent, "n_input": n_input,
              "noise_std": noise_std, "n_train": n_train, "n_test": n_test, "prior": prior,
              "n_heldout": n_heldout, **options.__dict__}
    if prior == "correlated":
        config["prior_correlation"] = DEFAULT_PRIOR_CORRELATION if prior_correlation is None else prior_correlation
    coords = {**_coords(n_test, options.samples, n_input, n_latent, options.steps, n_hidden),
              **_parameter_coords(params)}
    ds = new_dataset(data_vars, coords, config, "linear-gaussian")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds


def response_gaussian(circuit, params, x) -> tuple[np.ndarray, np.ndarray]:
    """The exact Gaussian response distribution N(mean, cov) of a rate circuit whose response
    given x is Gaussian (feed-forward, linear recurrent): ((n, K), (n, K, K))."""
    x = jnp.asarray(x)
    if isinstance(circuit, RecurrentCircuit):
        if not circuit.is_linear:
            raise ValueError("only the linear recurrent circuits have Gaussian responses")
        mean = circuit.response_mean(params, x)
    else:
        mean = circuit.mean(params, x)
    return np.asarray(mean, dtype=float), np.asarray(circuit.response_covariance(params, x), dtype=float)


def gsm_contrast_metrics(model, x, stimulus_contrast, levels, circuit_mean, circuit_cov, posterior, key,
                         gaussian_floors: bool = False) -> dict:
    """How the circuit's Gaussian responses match the exact GSM posterior at each contrast level.

    Per stimulus: KL(circuit || exact mixture posterior), by Monte Carlo over the circuit's
    Gaussian (``analysis.gsm_posterior``), with its SE. Per contrast level: that KL's mean
    over stimuli (and the SE of the mean over stimuli), the RMS over stimuli and latents of
    (circuit mean - posterior mean) / posterior sd, and the mean over stimuli and latents of
    circuit variance / posterior variance. With ``gaussian_floors`` also the lowest KL any
    Gaussian and any factorised Gaussian reach (``best_gaussian``), and the factorised
    optimum's mean error and variance ratio: what a circuit with independent noise could
    reach at best.
    """
    key_circuit, key_full, key_factorised = jax.random.split(key, 3)
    posterior_sd = np.sqrt(np.diagonal(posterior.cov, axis1=1, axis2=2))
    kl, kl_se = gaussian_kl_to_posterior(model, x, circuit_mean, circuit_cov, key_circuit,
                                         log_evidence=posterior.log_evidence)
    at_level = [stimulus_contrast == level for level in levels]

    def by_level(values):
        return np.array([values[mask].mean() for mask in at_level])

    def se_by_level(values):
        return np.array([values[mask].std(ddof=1) / np.sqrt(mask.sum()) if mask.sum() > 1 else np.nan
                         for mask in at_level])

    def mean_error(mean):
        return np.sqrt(by_level(((mean - posterior.mean) / posterior_sd) ** 2))

    def variance_ratio(cov):
        return by_level(np.diagonal(cov, axis1=1, axis2=2) / posterior_sd**2)

    level_dim = "contrast_level"
    out = {
        "kl_mixture_posterior": variable("stimulus", kl, "nats", "KL(circuit's Gaussian responses || exact GSM "
                                                                 "posterior), Monte Carlo over the responses"),
        "kl_mixture_posterior_se": variable("stimulus", kl_se, "nats", "Monte Carlo SE of kl_mixture_posterior"),
        "kl_mixture_by_contrast": variable(level_dim, by_level(kl), "nats",
                                           "mean over stimuli of KL(circuit || exact GSM posterior)"),
        "kl_mixture_by_contrast_se": variable(level_dim, se_by_level(kl), "nats",
                                              "SE over stimuli of kl_mixture_by_contrast"),
        "mean_error_by_contrast": variable(level_dim, mean_error(circuit_mean), "posterior sd",
                                           "RMS over stimuli and latents of (circuit mean - posterior mean) / "
                                           "posterior sd"),
        "variance_ratio_by_contrast": variable(level_dim, variance_ratio(circuit_cov), "1",
                                               "mean over stimuli and latents of circuit variance / posterior "
                                               "variance"),
    }
    if gaussian_floors:
        for name, factorised, floor_key in (("best_gaussian", False, key_full),
                                            ("best_factorised", True, key_factorised)):
            what = "factorised (independent-noise) Gaussian" if factorised else "Gaussian"
            best = best_gaussian(model, x, floor_key, factorised=factorised, posterior=posterior)
            out[f"{name}_kl"] = variable("stimulus", best["kl"], "nats",
                                         f"lowest KL(q || exact GSM posterior) found over every {what} q")
            out[f"{name}_kl_by_contrast"] = variable(level_dim, by_level(best["kl"]), "nats",
                                                     f"mean over stimuli of {name}_kl")
            if factorised:
                out["best_factorised_mean_error_by_contrast"] = variable(
                    level_dim, mean_error(best["mean"]), "posterior sd", "mean_error_by_contrast of the best "
                    "factorised Gaussian")
                out["best_factorised_variance_ratio_by_contrast"] = variable(
                    level_dim, variance_ratio(best["cov"]), "1", "variance_ratio_by_contrast of the best "
                    "factorised Gaussian")
    return out


def gsm_task_data(seed: int, n_latent: int, n_input: int, noise_std: float, contrast_shape: float,
                  contrast_scale: float, contrast_levels, n_train: int, n_test: int):
    """The GSM task of ``run gsm`` from its seed: (model, training inputs (n_train, D), test
    inputs (levels x n_test, D), their latents, their contrasts). The test latents are the
    same ``n_test`` draws shown at every contrast level."""
    rng = np.random.default_rng(seed)
    levels = np.asarray(contrast_levels, dtype=float)
    if levels.ndim != 1 or levels.size < 1 or np.any(levels <= 0):
        raise ValueError("contrast_levels must be one or more positive contrasts")
    model = gsm_model(rng, n_latent, n_input, noise_std, contrast_shape, contrast_scale)
    _, train_x = model.sample(n_train, rng)
    z_base = rng.multivariate_normal(np.zeros(n_latent), model.prior_cov, size=n_test)
    x_test = np.concatenate([c * z_base @ model.A.T + noise_std * rng.standard_normal((n_test, n_input))
                             for c in levels])
    return model, train_x, x_test, np.tile(z_base, (levels.size, 1)), np.repeat(levels, n_test)


def run_gsm(seed: int, n_latent: int = 4, n_input: int = 8, noise_std: float = 0.5,
            contrast_shape: float = 2.0, contrast_scale: float = 0.5,
            contrast_levels=(0.25, 0.5, 1.0, 2.0, 4.0), n_train: int = 20_000, n_test: int = 8,
            gaussian_floors: bool = False, progress: bool = True,
            **circuit_options) -> xarray.Dataset:  # noqa: F821
    """Train on a Gaussian scale mixture (Orban et al. 2016) and compare variability across contrast.

    Task: x = c A z + noise, z ~ N(0, I), c ~ Gamma(contrast_shape, contrast_scale).
    Objective: -log p(x | r) with c integrated out by 64-node quadrature over its prior,
    activity cost = prior precision, plus the reliability cost; feed-forward circuits get
    input-gated noise (see ``circuits.feedforward``) so their variability can follow contrast.
    Test stimuli: ``n_test`` latents z shown at each of ``contrast_levels`` (one level is
    allowed, e.g. for a sweep over contrast; the trend metrics across contrast then are not written).
    The posterior mean is divisive in x, so a multi-layer circuit defaults to ReLU hidden units.
    Per contrast level the file holds the circuit's KL to the exact mixture posterior, its
    mean error and variance ratio (``gsm_contrast_metrics``); ``gaussian_floors`` adds the
    lowest KL any Gaussian and any factorised Gaussian reach (about 10 s per 40 stimuli).
    """
    if circuit_options.get("architecture") == "multi-layer":
        circuit_options.setdefault("activation", "relu")
    options = CircuitOptions(**circuit_options)
    refuse_learned_model(options)
    count("seed", seed, 0)
    started = time.perf_counter()
    levels = np.asarray(contrast_levels, dtype=float)
    model, train_x, x_test, z_test, stimulus_contrast = gsm_task_data(seed, n_latent, n_input, noise_std,
                                                                      contrast_shape, contrast_scale, levels,
                                                                      n_train, n_test)
    posterior = model.posterior(x_test)

    circuit = options.build_circuit(n_input, n_latent, noise_gating=True)
    nodes, weights = contrast_quadrature(contrast_shape, contrast_scale)
    objective = Objective(decoder=model.A, decoding_precision=1.0 / model.noise_std**2,
                          activity_cost=np.linalg.inv(model.prior_cov), contrast_nodes=nodes, contrast_weights=weights,
                          **options.objective_options())
    key_train, key_test = jax.random.split(jax.random.PRNGKey(seed))
    params, history = train(circuit, objective, train_x, key_train, options.training_config(), progress=progress,
                            track=TRACKED_PARAMETERS)
    responses = _sample_responses(circuit, params, jnp.asarray(x_test), key_test, options)
    circuit_vars, metrics = _circuit_outputs(circuit, params, x_test, responses, posterior.mean, posterior.cov, z_test)

    sample_var = np.asarray(responses["responses"], dtype=float).var(axis=1, ddof=1).mean(-1)
    exact_var = np.diagonal(posterior.cov, axis1=-2, axis2=-1).mean(-1)
    response_by_level = np.array([sample_var[stimulus_contrast == c].mean() for c in levels])
    exact_by_level = np.array([exact_var[stimulus_contrast == c].mean() for c in levels])
    contrast_trend = {}
    if levels.size >= 2:  # trends across contrast need two levels at least
        contrast_trend = {
            "variance_contrast_correlation": scalar(np.corrcoef(response_by_level, exact_by_level)[0, 1], "1",
                                                     "correlation over contrast levels of response and posterior "
                                                     "variance"),
            "response_variance_slope": scalar(np.polyfit(np.log(levels), response_by_level, 1)[0], "1",
                                               "slope of response variance vs log contrast"),
            "posterior_variance_slope": scalar(np.polyfit(np.log(levels), exact_by_level, 1)[0], "1",
                                                "slope of posterior variance vs log contrast"),
        }

    n_stim = x_test.shape[0]
    circuit_mean, circuit_cov = response_gaussian(circuit, params, x_test)
    key_kl = jax.random.fold_in(key_test, 1)
    data_vars = {
        "circuit_mean": variable(("stimulus", "latent"), circuit_mean, "1", "the circuit's exact response mean"),
        **gsm_contrast_metrics(model, x_test, stimulus_contrast, levels, circuit_mean, circuit_cov, posterior, key_kl,
                               gaussian_floors),
        **_common_variables(model, x_test, z_test, posterior.mean, circuit_vars, metrics, history, params),
        "stimulus_contrast": variable("stimulus", stimulus_contrast, "1", "contrast c the test input was made with"),
        "posterior_cov": variable(("stimulus", "latent", "latent_"), posterior.cov, "1",
                                  "exact posterior covariance (quadrature over c)"),
        "posterior_contrast_mean": variable("stimulus", posterior.contrast_mean, "1", "E[c | x]"),
        "response_variance_by_contrast": variable("contrast_level", response_by_level, "1",
                                                  "mean response variance at each contrast"),
        "posterior_variance_by_contrast": variable("contrast_level", exact_by_level, "1",
                                                   "mean exact posterior variance at each contrast"),
        **contrast_trend,
    }
    coords = _coords(n_stim, options.samples, n_input, n_latent, options.steps,
                     responses["hidden"].shape[-1] if "hidden" in responses else 0)
    coords["contrast_level"] = variable("contrast_level", levels, "1", "test contrast levels")
    coords.update(_parameter_coords(params))
    config = {"experiment": "gsm", "seed": seed, "n_latent": n_latent, "n_input": n_input, "noise_std": noise_std,
              "contrast_shape": contrast_shape, "contrast_scale": contrast_scale,
              "contrast_levels": levels.tolist(), "n_train": n_train, "n_test": n_test,
              "gaussian_floors": gaussian_floors, **options.__dict__}
    ds = new_dataset(data_vars, coords, config, "gsm")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds
