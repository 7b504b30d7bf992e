"""``sampling-circuits run gsm-gain``: a circuit with a sampled gain unit on the GSM task,
against the exact posterior and against the Gaussian circuit of ``run gsm`` (issue 18, item 3).

The task, training inputs and test stimuli are those ``run gsm`` draws from the same seed
(``gsm_task_data``). The gain circuit (``circuits.gain``) is trained on the joint negative
ELBO; its responses are a continuous mixture of Gaussians, scored by KL(q(r | x) || p(z | x))
with q's density by quadrature over the gain state and p's by ``analysis.gsm_posterior``.
With ``compare`` the file also holds, per contrast, the KL of the single-layer MLP-encoder
Gaussian circuit trained on the same task (``run gsm --encoder mlp``) and the lowest KL any
Gaussian reaches: what representing the contrast mixture buys, stimulus by stimulus.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from analysis.gsm_posterior import best_gaussian, kl_to_posterior
from circuits._validation import count, positive
from circuits.gain import GainCircuit, GainObjective, train_gain_circuit
from simulations.experiments import gsm_task_data, run_gsm
from simulations.results import new_dataset, parameter_variables, scalar, variable

__all__ = ["run_gsm_gain", "PARAMETER_DIMS"]

#: Named dims of the gain circuit's parameters.
PARAMETER_DIMS = {
    "filters": ("latent", "obs"), "pool_weights": ("pool_hidden", "pool_input"), "pool_bias": ("pool_hidden",),
    "gain_mean_readout": ("pool_hidden",), "gain_log_std_readout": ("pool_hidden",),
    "modulation_weights": ("modulation_hidden",), "modulation_bias": ("modulation_hidden",),
    "gain_readout": ("latent", "modulation_hidden"), "gain_bias": ("latent",),
    "log_std_readout": ("latent", "modulation_hidden"), "log_std_bias": ("latent",), "mixing": ("latent", "latent_"),
    "response_bias": ("latent",),
}


def run_gsm_gain(seed: int, n_latent: int = 4, n_input: int = 8, noise_std: float = 0.5,
                 contrast_shape: float = 2.0, contrast_scale: float = 0.5,
                 contrast_levels=(0.25, 0.5, 1.0, 2.0, 4.0), n_train: int = 20_000, n_test: int = 8,
                 width: int = 16, steps: int = 12_000, batch_size: int = 64, learning_rate: float = 0.02,
                 samples: int = 2000, compare: bool = True, progress: bool = True) -> xr.Dataset:
    """Train the gain circuit on ``run gsm``'s task for ``seed`` and score it per contrast.

    ``samples`` trials per test stimulus are drawn; they are the file's responses and the
    Monte Carlo draws of its KL. Moments (mean error in posterior sds, variance ratio) are
    those of the samples. ``width``: hidden units of the circuit's two tanh networks (and of
    the comparison circuit's MLP encoder).
    """
    count("seed", seed, 0)
    for name, value in (("n_test", n_test), ("n_train", n_train), ("steps", steps), ("batch_size", batch_size)):
        count(name, value, 1)
    count("samples", samples, 2)
    positive("learning_rate", learning_rate)
    started = time.perf_counter()
    levels = np.asarray(contrast_levels, dtype=float)
    model, train_x, x_test, z_test, stimulus_contrast = gsm_task_data(seed, n_latent, n_input, noise_std,
                                                                      contrast_shape, contrast_scale, levels,
                                                                      n_train, n_test)
    posterior = model.posterior(x_test)
    circuit = GainCircuit(n_input, n_latent, width=width)
    objective = GainObjective(model.A, model.noise_std, model.prior_cov, contrast_shape, contrast_scale)
    key_train, key_test, key_floor = jax.random.split(jax.random.PRNGKey(seed), 3)
    params, losses = train_gain_circuit(circuit, objective, train_x, key_train, steps=steps, batch_size=batch_size,
                                        learning_rate=learning_rate, progress=progress)
    x_j = jnp.asarray(x_test)
    draws = circuit.sample(params, x_j, key_test, samples)
    responses = np.asarray(draws["responses"], dtype=float)
    log_q = np.asarray(circuit.log_response_density(params, x_j, draws["responses"]), dtype=float)
    kl, kl_se = kl_to_posterior(model, x_test, responses, log_q, log_evidence=posterior.log_evidence)

    at_level = [stimulus_contrast == level for level in levels]

    def by_level(values):
        return np.array([np.mean(values[mask]) for mask in at_level])

    posterior_sd = np.sqrt(np.diagonal(posterior.cov, axis1=1, axis2=2))
    gain = np.asarray(draws["gain"], dtype=float)
    level_dim = "contrast_level"
    data_vars = {
        "A": variable(("obs", "latent"), model.A, "1", "generative weights"),
        "noise_std": variable("obs", model.noise_std, "1", "observation noise sd"),
        "prior_cov": variable(("latent", "latent_"), model.prior_cov, "1", "prior covariance of z"),
        "x": variable(("stimulus", "obs"), x_test, "1", "held-out test inputs"),
        "z": variable(("stimulus", "latent"), z_test, "1", "true latents of the test inputs"),
        "stimulus_contrast": variable("stimulus", stimulus_contrast, "1", "contrast c the test input was made with"),
        "posterior_mean": variable(("stimulus", "latent"), posterior.mean, "1", "exact posterior mean"),
        "posterior_cov": variable(("stimulus", "latent", "latent_"), posterior.cov, "1",
                                  "exact posterior covariance (quadrature over c)"),
        "posterior_contrast_mean": variable("stimulus", posterior.contrast_mean, "1", "E[c | x]"),
        "r": variable(("stimulus", "sample", "latent"), responses, "1", "responses of the representation neurons"),
        "gain_state": variable(("stimulus", "sample"), gain, "1", "the gain unit's state u = log c on each trial"),
        "log_response_density": variable(("stimulus", "sample"), log_q, "nats",
                                         "log q(r | x) of each response (quadrature over the gain state)"),
        "kl_mixture_posterior": variable("stimulus", kl, "nats", "KL(circuit's responses || exact GSM posterior)"),
        "kl_mixture_posterior_se": variable("stimulus", kl_se, "nats", "Monte Carlo SE of kl_mixture_posterior"),
        "kl_mixture_by_contrast": variable(level_dim, by_level(kl), "nats",
                                           "mean over stimuli of KL(circuit || exact GSM posterior)"),
        "mean_error_by_contrast": variable(level_dim, np.sqrt(by_level(((responses.mean(1) - posterior.mean)
                                                                         / posterior_sd) ** 2)), "posterior sd",
                                           "RMS over stimuli and latents of (response mean - posterior mean) / "
                                           "posterior sd"),
        "variance_ratio_by_contrast": variable(level_dim, by_level(responses.var(1, ddof=1) / posterior_sd**2), "1",
                                               "mean over stimuli and latents of response variance / posterior "
                                               "variance"),
        "gain_contrast_by_contrast": variable(level_dim, by_level(np.exp(gain).mean(1)), "1",
                                              "mean over stimuli of the gain unit's mean exp(u)"),
        "posterior_contrast_by_contrast": variable(level_dim, by_level(posterior.contrast_mean), "1",
                                                   "mean over stimuli of E[c | x]"),
        "loss": variable("step", losses, "nats", "joint negative ELBO per input, without its constants"),
        "mean_kl_mixture": scalar(kl.mean(), "nats", "mean over all test stimuli of kl_mixture_posterior"),
        **parameter_variables(params, dims=PARAMETER_DIMS),
    }
    if compare:
        gaussian = run_gsm(seed, n_latent=n_latent, n_input=n_input, noise_std=noise_std,
                           contrast_shape=contrast_shape, contrast_scale=contrast_scale, contrast_levels=levels,
                           n_train=n_train, n_test=n_test, progress=progress, encoder="mlp", encoder_width=width,
                           steps=steps, samples=20)
        floor = best_gaussian(model, x_test, key_floor, posterior=posterior)
        data_vars.update({
            "gaussian_circuit_kl_by_contrast": variable(level_dim, gaussian["kl_mixture_by_contrast"].values, "nats",
                                                        "the same for the single-layer Gaussian circuit with an "
                                                        "MLP encoder (run gsm --encoder mlp), same task and steps"),
            "best_gaussian_kl_by_contrast": variable(level_dim, by_level(floor["kl"]), "nats",
                                                     "mean over stimuli of the lowest KL any Gaussian reaches"),
            "gaussian_circuit_mean_kl": scalar(float(gaussian["kl_mixture_posterior"].mean()), "nats",
                                               "mean over all test stimuli, Gaussian circuit"),
            "best_gaussian_mean_kl": scalar(floor["kl"].mean(), "nats", "mean over all test stimuli, best Gaussian"),
        })
    coords = {
        "stimulus": variable("stimulus", np.arange(x_test.shape[0]), "1", "test stimulus index"),
        "sample": variable("sample", np.arange(samples), "1", "trial index"),
        "obs": variable("obs", np.arange(n_input), "1", "input dimension"),
        "latent": variable("latent", np.arange(n_latent), "1", "latent / representation neuron"),
        "latent_": variable("latent_", np.arange(n_latent), "1", "second latent axis"),
        "step": variable("step", np.arange(1, steps + 1), "1", "optimiser step"),
        level_dim: variable(level_dim, levels, "1", "test contrast levels"),
        "pool_hidden": variable("pool_hidden", np.arange(width), "1", "hidden unit of the gain unit's network"),
        "pool_input": variable("pool_input", np.arange(n_latent + 1), "1",
                               "energy input of the gain unit: log(1 + y_k^2) per filter, then log(1 + |x|^2)"),
        "modulation_hidden": variable("modulation_hidden", np.arange(width), "1",
                                      "hidden unit of the network of u that sets gains and sds"),
    }
    config = {"experiment": "gsm-gain", "seed": seed, "n_latent": n_latent, "n_input": n_input,
              "noise_std": noise_std, "contrast_shape": contrast_shape, "contrast_scale": contrast_scale,
              "contrast_levels": levels.tolist(), "n_train": n_train, "n_test": n_test, "width": width,
              "steps": steps, "batch_size": batch_size, "learning_rate": learning_rate, "samples": samples,
              "compare": compare}
    ds = new_dataset(data_vars, coords, config, "gsm-gain")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds
