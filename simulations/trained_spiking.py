"""Spiking circuits trained under local costs (``sampling-circuits run trained-spiking``).

Tasks: the linear-Gaussian task of ``run linear-gaussian`` (z ~ N(0, I), x = A z + noise,
A i.i.d. N(0, 1)) and the Gaussian scale mixture of ``run gsm`` (x = c A z + noise, c ~
Gamma(2, 0.5), its test stimuli the same latents at contrasts 0.25-4), each drawn from the
same seed in the same order as those runs, so that the trained rate circuit of that run sees
the same task. Circuits (single-layer or recurrent), trained by
``circuits.spiking_learning.train_spiking`` with the task's true decoder and prior:
- ``neuron="escape"`` (noise site: neurons): ``circuits.escape_noise.EscapeNoiseCircuit``,
  each neuron paying for its escape-noise width under the chosen reliability family;
- ``neuron="lif"`` (noise site: synapses): ``circuits.release_lif.ReleaseLIFCircuit``,
  deterministic LIF neurons whose synapses release with a learned probability, each synapse
  paying for its reliability (the family on its coefficient of variation sqrt((1 - p) / p)).
Every neuron also pays for its spikes and for its synaptic drive.

The default reliability family is the power law with rho = 2 on the escape width delta,
cost = lambda / (2 delta^2) (on a synapse's coefficient of variation, lambda p / (2 (1 - p))):
channel noise has a variance inversely proportional to the number of channels, and their
energy is proportional to it (Faisal, Selen & Wolpert 2008). The log
cost is offered but is unbounded below here: a neuron that the readout ignores can widen its
escape noise without limit, and -log delta falls without limit (measured, seed 1, 4000 steps:
13 of 16 widths grew to 275-1476 threshold units and the objective to -78 nats per input).

Measures, on ``n_test`` held-out stimuli with ``test_trials`` trials each (one readout sample
per trial): the KL of the moment-matched readout to the exact posterior (median over
stimuli, beside the KL that sampling error alone gives, ``analysis.nuts.moment_kl_floor``);
the mean-field floor; the trained rate single-layer circuit's KL on the same task and seed
(``run linear-gaussian``, its default objective: the negative ELBO with the log cost), and
the issue's bar, that KL + 0.1 x floor (linear-Gaussian task: the floor; GSM: the KL is to
the moment-matched posterior and no floor is defined); on the GSM, the readout's and the
exact posterior's variance at each contrast and their slopes against log contrast, beside
the rate circuit's; the readout's variance per latent over the
posterior's and its mean error in posterior sds; firing rates (spikes/s), Fano factors of
the window counts, and the readout's noise correlations against the posterior's.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from analysis.compare import correlation_from_cov, gaussian_kl, mean_field_kl_floor, moment_match
from analysis.nuts import moment_kl_floor
from circuits._validation import count, positive
from circuits.escape_noise import EscapeNoiseCircuit
from circuits.learning import Objective
from circuits.release_lif import ReleaseLIFCircuit
from circuits.reliability import make_cost
from circuits.spiking_learning import SpikingObjective, SpikingTrainingConfig, train_spiking
from simulations.results import config_of, new_dataset, parameter_variables, parameters_of, scalar, variable
from simulations.tasks import contrast_quadrature, gsm_model, linear_gaussian_model

__all__ = ["run_trained_spiking", "trained_spiking_circuit", "SPIKING_TASKS", "SPIKING_NEURON_MODELS",
           "SPIKING_NOISE_SITES", "SPIKING_ARCHITECTURES"]

SPIKING_TASKS = ("linear-gaussian", "gsm")
#: The GSM task's contrast prior (shape, scale) and test contrasts, those of ``run gsm``.
GSM_CONTRAST_PRIOR = (2.0, 0.5)
GSM_TEST_CONTRASTS = (0.25, 0.5, 1.0, 2.0, 4.0)
DEFAULT_NOISE_STD = {"linear-gaussian": 1.0, "gsm": 0.5}
GSM_SLOPE_BOOTSTRAP = 200
#: Each neuron model and the noise site it is built with.
SPIKING_NEURON_MODELS = {"escape": "neurons", "lif": "synapses"}
SPIKING_NOISE_SITES = ("neurons", "synapses")
SPIKING_ARCHITECTURES = ("single-layer", "recurrent")
PARAMETER_DIMS = {"input_weights": ("neuron", "obs"), "input_bias": ("neuron",),
                  "recurrent_weights": ("neuron", "neuron_"), "log_escape_width": ("neuron",),
                  "readout_weights": ("latent", "neuron"), "readout_bias": ("latent",),
                  "input_quanta": ("neuron", "obs"), "input_release_logit": ("neuron", "obs"),
                  "recurrent_quanta": ("neuron", "neuron_"), "recurrent_release_logit": ("neuron", "neuron_")}


def _choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def run_trained_spiking(seed: int, task: str = "linear-gaussian", neuron: str = "escape",
                        noise_site: str | None = None, architecture: str = "single-layer", n_latent: int = 4,
                        n_input: int = 8, noise_std: float | None = None, n_neurons: int = 16, steps: int = 6000,
                        batch_size: int = 32, trials: int = 16, learning_rate: float = 0.01,
                        cost: str = "power", cost_strength: float = 1.0, cost_exponent: float | None = 2.0,
                        spike_cost: float = 0.0, drive_cost: float = 0.1, window: float = 0.1,
                        burn_in: float = 0.05, n_train: int = 20_000, n_test: int = 20, test_trials: int = 400,
                        compare_rate: bool = True, progress: bool = True):
    """Train a spiking circuit and compare its readout with the exact posterior (module docstring).

    Parameters
    ----------
    seed : seed of the task (as ``run linear-gaussian``), the training and the test trials.
    task : ``"linear-gaussian"`` or ``"gsm"``.
    neuron : ``"escape"`` (escape-noise LIF) or ``"lif"`` (LIF with stochastic release).
    noise_site : ``"neurons"`` for ``"escape"``, ``"synapses"`` for ``"lif"`` (None: that one).
    architecture : ``"single-layer"`` or ``"recurrent"``.
    n_latent, n_input, noise_std : K, D and the observation noise sd of the task (default that
        of its rate run: 1 for the linear-Gaussian task, 0.5 for the GSM).
    n_neurons : N spiking neurons.
    steps, batch_size, trials, learning_rate : training (``SpikingTrainingConfig``).
    cost, cost_strength, cost_exponent : the reliability family on each noise source's scale
        (escape width, or synaptic coefficient of variation).
    spike_cost : nats per spike. drive_cost : nats per squared threshold unit of drive.
    window, burn_in : counting window and the time before it, from rest at onset (s).
    n_train, n_test, test_trials : training inputs, test stimuli, trials per test stimulus.
    compare_rate : also train the rate single-layer circuit on the same task (``run
        linear-gaussian`` or ``run gsm`` with its defaults, the same seed and training inputs).
    """
    started = time.perf_counter()
    count("seed", seed, 0)
    _choice("task", task, SPIKING_TASKS)
    _choice("neuron", neuron, tuple(SPIKING_NEURON_MODELS))
    noise_site = SPIKING_NEURON_MODELS[neuron] if noise_site is None else noise_site
    _choice("noise_site", noise_site, SPIKING_NOISE_SITES)
    if noise_site != SPIKING_NEURON_MODELS[neuron]:
        raise ValueError(f"noise_site {noise_site!r} is not built for neuron {neuron!r}: escape-noise neurons carry "
                         "their noise in the threshold (noise_site 'neurons'), LIF neurons in the release of their "
                         "synapses (noise_site 'synapses')")
    _choice("architecture", architecture, SPIKING_ARCHITECTURES)
    for name, value, minimum in (("n_latent", n_latent, 1), ("n_input", n_input, 1), ("n_train", n_train, 1),
                                 ("n_test", n_test, 1), ("test_trials", test_trials, 2)):
        count(name, value, minimum)
    noise_std = positive("noise_std", DEFAULT_NOISE_STD[task] if noise_std is None else noise_std)
    circuit = _circuit(neuron, architecture, n_input, n_neurons, n_latent, window, burn_in)
    config = SpikingTrainingConfig(steps=steps, batch_size=batch_size, trials=trials, learning_rate=learning_rate)
    reliability = make_cost(cost, cost_strength, cost_exponent)
    model, train_x, x_test, z_test, contrast, rate_objective = _task(task, seed, n_latent, n_input, noise_std,
                                                                     n_train, n_test, reliability)
    posterior = model.posterior(x_test)
    posterior_cov = np.broadcast_to(posterior.cov, (x_test.shape[0], n_latent, n_latent))
    objective = SpikingObjective(rate_objective, spike_cost=spike_cost, drive_cost=drive_cost)

    key_train, key_test = jax.random.split(jax.random.PRNGKey(seed))
    params, history = train_spiking(circuit, objective, train_x, key_train, config, progress=progress)
    training_s = time.perf_counter() - started
    simulated = circuit.simulate(params, jnp.asarray(x_test), key_test, test_trials)
    samples = np.asarray(simulated["samples"], dtype=float)
    counts = np.asarray(simulated["counts"], dtype=float)

    mean, cov = moment_match(samples)
    kl = gaussian_kl(mean, cov, posterior.mean, posterior_cov)
    kl_covariance = gaussian_kl(posterior.mean, cov, posterior.mean, posterior_cov)  # the means matched
    posterior_variance = np.diagonal(posterior_cov, axis1=1, axis2=2)
    posterior_sd = np.sqrt(posterior_variance)
    count_mean = counts.mean(1)
    firing = count_mean > 0
    fano = np.where(firing, counts.var(1, ddof=1) / np.where(firing, count_mean, 1.0), np.nan)
    readout_correlation = correlation_from_cov(cov).mean(0)
    posterior_correlation = correlation_from_cov(posterior_cov).mean(0)
    pairs = np.triu_indices(n_latent, 1)
    readout_variance = np.diagonal(cov, axis1=1, axis2=2)
    variance_ratio = (readout_variance / posterior_variance).mean(0)
    metrics = {
        "kl_true_posterior": scalar(float(np.median(kl)), "nats",
                                    "median over test stimuli of KL(moment-matched readout || exact posterior; "
                                    "GSM: its moment-matched Gaussian)"),
        "kl_covariance_term": scalar(float(np.median(kl_covariance)), "nats",
                                     "median over test stimuli of the KL with the readout's mean set to the "
                                     "posterior's: the part of the KL that the covariance causes"),
        "kl_sampling_floor": scalar(float(moment_kl_floor(n_latent, test_trials)), "nats",
                                    "expected KL from sampling error alone at test_trials independent samples"),
        "variance_ratio_per_latent": variable("latent", variance_ratio, "1", "readout variance over the posterior "
                                                                             "variance, mean over test stimuli"),
        "variance_ratio": scalar(float(variance_ratio.mean()), "1", "mean of variance_ratio_per_latent"),
        "mean_error_sd": scalar(float(np.mean(np.abs(mean - posterior.mean) / posterior_sd)), "1",
                                "mean |readout mean - posterior mean| in posterior sds"),
        "rate": variable("neuron", count_mean.mean(0) / window, "spikes/s",
                         "firing rate of each neuron in the window, mean over test stimuli"),
        "mean_rate": scalar(float(count_mean.mean() / window), "spikes/s",
                            "mean firing rate (the metabolic cost in spikes per second per neuron)"),
        "fano_factor": scalar(float(np.nanmean(fano)), "1",
                              "Fano factor of the window counts, mean over (stimulus, neuron) pairs that fire"),
        "noise_correlation": variable(("latent", "latent_"), readout_correlation, "1",
                                      "correlations of the readout across trials, mean over test stimuli"),
        "posterior_correlation": variable(("latent", "latent_"), posterior_correlation, "1",
                                          "correlations of the exact posterior, mean over test stimuli"),
        "noise_correlation_rms_error": scalar(
            float(np.sqrt(np.mean((readout_correlation - posterior_correlation)[pairs] ** 2)))
            if n_latent > 1 else 0.0, "1", "RMS over latent pairs of readout minus posterior noise correlation"),
        "training_s": scalar(training_s, "s", "wall time of the training, compilation included"),
    }
    if task == "linear-gaussian":
        floor = mean_field_kl_floor(model.posterior_precision)
        metrics["mean_field_floor"] = scalar(floor, "nats", "smallest KL reachable with independent readout noise")
    else:
        levels = np.asarray(GSM_TEST_CONTRASTS)

        def by_level(variance):  # (stimulus, latent) -> mean at each contrast
            return np.array([variance[contrast == c].mean() for c in levels])

        def slope(variance):  # of the mean variance against log contrast
            return np.polyfit(np.log(levels), by_level(variance), 1)[0]

        readout_by_level, posterior_by_level = by_level(readout_variance), by_level(posterior_variance)
        # SE of the readout's slope: bootstrap over each stimulus's trials (the test stimuli are fixed).
        rng = np.random.default_rng(seed)
        slopes = []
        for _ in range(GSM_SLOPE_BOOTSTRAP):
            picks = rng.integers(0, test_trials, (samples.shape[0], test_trials))
            slopes.append(slope(np.take_along_axis(samples, picks[..., None], axis=1).var(1, ddof=1)))
        metrics.update({
            "stimulus_contrast": variable("stimulus", contrast, "1", "contrast c the test input was made with"),
            "readout_variance_by_contrast": variable("contrast_level", readout_by_level, "1",
                                                     "mean readout variance at each contrast"),
            "posterior_variance_by_contrast": variable("contrast_level", posterior_by_level, "1",
                                                       "mean exact posterior variance at each contrast"),
            "readout_variance_slope": scalar(slope(readout_variance), "1",
                                             "slope of readout variance vs log contrast"),
            "readout_variance_slope_se": scalar(float(np.std(slopes, ddof=1)), "1",
                                                f"its SE, bootstrap over trials ({GSM_SLOPE_BOOTSTRAP} draws)"),
            "posterior_variance_slope": scalar(slope(posterior_variance), "1",
                                               "slope of posterior variance vs log contrast"),
        })
    if compare_rate:
        metrics.update(_rate_comparison(task, seed, n_latent, n_input, noise_std, n_train, n_test, model, progress,
                                        metrics))

    data_vars = {
        **parameter_variables(params, dims=PARAMETER_DIMS),
        **metrics,
        **_noise_source_variables(circuit, params),
        "samples": variable(("stimulus", "trial", "latent"), samples, "1", "readout z of each test trial"),
        "counts": variable(("stimulus", "trial", "neuron"), counts, "spikes", "spikes in the window"),
        "x": variable(("stimulus", "obs"), x_test, "1", "test stimuli"),
        "z_true": variable(("stimulus", "latent"), z_test, "1", "latents of the test stimuli"),
        "posterior_mean": variable(("stimulus", "latent"), posterior.mean, "1", "exact posterior mean"),
        "posterior_cov": variable(("stimulus", "latent", "latent_"), posterior_cov, "1",
                                  "exact posterior covariance"),
        "kl_per_stimulus": variable("stimulus", kl, "nats", "KL(moment-matched readout || exact posterior)"),
        **{f"history_{name}": variable("step", history[name].values, history[name].attrs["units"],
                                       f"{name.replace('_', ' ')} per training step (minibatch estimate)")
           for name in history.data_vars},
    }
    coords = {"latent": variable("latent", np.arange(n_latent), "1", "latent"),
              "latent_": variable("latent_", np.arange(n_latent), "1", "second latent axis"),
              "neuron": variable("neuron", np.arange(n_neurons), "1", "spiking neuron"),
              "neuron_": variable("neuron_", np.arange(n_neurons), "1", "presynaptic neuron"),
              "obs": variable("obs", np.arange(n_input), "1", "input dimension"),
              "stimulus": variable("stimulus", np.arange(x_test.shape[0]), "1",
                                   "test stimulus (GSM: n_test per contrast)"),
              "trial": variable("trial", np.arange(test_trials), "1", "trial"),
              "step": variable("step", np.arange(1, steps + 1), "1", "optimiser step")}
    if task == "gsm":
        coords["contrast_level"] = variable("contrast_level", np.asarray(GSM_TEST_CONTRASTS), "1",
                                            "test contrast levels")
    config_dict = dict(seed=seed, task=task, neuron=neuron, noise_site=noise_site, architecture=architecture,
                       n_latent=n_latent, n_input=n_input, noise_std=noise_std, n_neurons=n_neurons, steps=steps,
                       batch_size=batch_size, trials=trials, learning_rate=learning_rate, cost=cost,
                       cost_strength=cost_strength, cost_exponent=cost_exponent, spike_cost=spike_cost,
                       drive_cost=drive_cost, window=window, burn_in=burn_in, n_train=n_train, n_test=n_test,
                       test_trials=test_trials, tau_membrane=circuit.tau_membrane, tau_synapse=circuit.tau_synapse,
                       dt=circuit.dt, readout_rate=circuit.readout_rate,
                       objective="E[decoding error + 1/2 z^T C^-1 z + spike_cost x spikes] + 1/2 drive_cost |I(x)|^2 "
                                 f"+ sum over noise sources of cost({_NOISE_SCALE[neuron]}); z = readout of the "
                                 "window's spike counts; true decoder A and precision 1 / noise_std^2 (GSM: the "
                                 "contrast integrated out by quadrature over its prior); no entropy term",
                       gradient=_GRADIENT[neuron])
    ds = new_dataset(data_vars, coords, config_dict, "trained-spiking")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds


def _circuit(neuron, architecture, n_input, n_neurons, n_latent, window, burn_in):
    circuit_class = EscapeNoiseCircuit if neuron == "escape" else ReleaseLIFCircuit
    return circuit_class(n_input, n_neurons, n_latent, recurrent=architecture == "recurrent", window=window,
                         burn_in=burn_in)


def trained_spiking_circuit(results):
    """The circuit of a ``run trained-spiking`` results file, rebuilt from its configuration,
    and its trained parameters: (circuit, params, config) (the spiking twin of
    ``simulations.tasks.trained_circuit``)."""
    if results.attrs.get("experiment") != "trained-spiking":
        raise ValueError(f"expected a trained-spiking results file, got {results.attrs.get('experiment')!r}")
    config = config_of(results)
    circuit = _circuit(config["neuron"], config["architecture"], config["n_input"], config["n_neurons"],
                       config["n_latent"], config["window"], config["burn_in"])
    return circuit, parameters_of(results), config


_NOISE_SCALE = {"escape": "each neuron's escape width", "lif": "each synapse's coefficient of variation "
                                                                 "sqrt((1 - p) / p)"}
_GRADIENT = {"escape": "score function of the spikes with a leave-one-out baseline (unbiased)",
             "lif": "score function of the releases with a leave-one-out baseline (unbiased for the release "
                    "probabilities and the readout) plus a surrogate gradient through the hard threshold for the "
                    "quanta and biases (fast sigmoid, steepness 10 per threshold unit; biased)"}


def _noise_source_variables(circuit, params) -> dict:
    """Each noise source's parameters as named variables with units."""
    if isinstance(circuit, EscapeNoiseCircuit):
        return {"escape_width": variable("neuron", np.exp(np.asarray(params["log_escape_width"])), "1",
                                         "escape-noise width delta of each neuron (threshold units)")}
    probability = {name: np.asarray(value) for name, value in circuit.release_probability(params).items()}
    weights = {name: np.asarray(value) for name, value in circuit.mean_weights(params).items()}
    out = {"release_probability": variable(("neuron", "obs"), probability["input"], "1",
                                           "release probability p of each input synapse (per step)"),
           "mean_input_weight": variable(("neuron", "obs"), weights["input"], "1",
                                         "mean weight p q of each input synapse (threshold units per input unit)")}
    if circuit.recurrent:
        off_diagonal = ~np.eye(circuit.n_neurons, dtype=bool)
        out["recurrent_release_probability"] = variable(
            ("neuron", "neuron_"), np.where(off_diagonal, probability["recurrent"], np.nan), "1",
            "release probability of each recurrent synapse per presynaptic spike (NaN: no autapse)")
        out["mean_recurrent_weight"] = variable(("neuron", "neuron_"), weights["recurrent"], "1",
                                                "mean weight p q of each recurrent synapse (threshold units per spike)")
    return out


def _task(task, seed, n_latent, n_input, noise_std, n_train, n_test, reliability):
    """The task, drawn as ``run linear-gaussian`` / ``run gsm`` draw it from ``seed``: (model,
    training inputs, test inputs, test latents, test contrasts or None, the rate objective)."""
    rng = np.random.default_rng(seed)
    if task == "linear-gaussian":
        model = linear_gaussian_model(rng, n_latent, n_input, noise_std)
        _, train_x = model.sample(n_train, rng)
        z_test, x_test = model.sample(n_test, rng)
        return model, train_x, x_test, z_test, None, Objective.for_linear_gaussian(model.A, noise_std,
                                                                                   model.prior_cov, reliability)
    shape, scale = GSM_CONTRAST_PRIOR
    levels = np.asarray(GSM_TEST_CONTRASTS)
    model = gsm_model(rng, n_latent, n_input, noise_std, shape, scale)
    _, train_x = model.sample(n_train, rng)
    z_base = rng.multivariate_normal(np.zeros(n_latent), model.prior_cov, size=n_test)
    x_test = np.concatenate([c * z_base @ model.A.T + noise_std * rng.standard_normal((n_test, n_input))
                             for c in levels])
    nodes, weights = contrast_quadrature(shape, scale)
    objective = Objective(decoder=model.A, decoding_precision=1.0 / noise_std**2,
                          activity_cost=np.linalg.inv(model.prior_cov), reliability=reliability,
                          contrast_nodes=nodes, contrast_weights=weights)
    return model, train_x, x_test, np.tile(z_base, (levels.size, 1)), np.repeat(levels, n_test), objective


def _rate_comparison(task, seed, n_latent, n_input, noise_std, n_train, n_test, model, progress, metrics) -> dict:
    """The trained rate single-layer circuit on the same task and seed (its run's defaults)."""
    from simulations.experiments import run_gsm, run_linear_gaussian

    if task == "linear-gaussian":
        rate = run_linear_gaussian(seed, n_latent=n_latent, n_input=n_input, noise_std=noise_std, n_train=n_train,
                                   n_test=n_test, n_heldout=10, closed_form=False, progress=progress,
                                   architecture="single-layer")
    else:
        rate = run_gsm(seed, n_latent=n_latent, n_input=n_input, noise_std=noise_std, n_train=n_train, n_test=n_test,
                       contrast_shape=GSM_CONTRAST_PRIOR[0], contrast_scale=GSM_CONTRAST_PRIOR[1],
                       contrast_levels=GSM_TEST_CONTRASTS, progress=progress, architecture="single-layer")
    if not np.allclose(rate["A"].values, model.A):
        raise RuntimeError("the rate circuit's task differs from the spiking circuit's")  # a broken seed contract
    # The same measure as the spiking readout's: median over stimuli of the moment-matched KL.
    rate_mean, rate_cov = moment_match(rate["r"].values)
    posterior = model.posterior(rate["x"].values)
    rate_kl = float(np.median(gaussian_kl(rate_mean, rate_cov, posterior.mean,
                                          np.broadcast_to(posterior.cov, rate_cov.shape))))
    out = {"rate_kl_true_posterior": scalar(rate_kl, "nats", f"the trained rate single-layer circuit's KL on the "
                                                             f"same task (run {task}, same seed)")}
    if task == "linear-gaussian":
        out["kl_bar"] = scalar(rate_kl + 0.1 * float(metrics["mean_field_floor"]), "nats",
                               "rate_kl_true_posterior + 0.1 x mean_field_floor")
    else:
        out["rate_variance_slope"] = scalar(float(rate["response_variance_slope"]), "1",
                                            "the rate circuit's slope of response variance vs log contrast")
    return out
