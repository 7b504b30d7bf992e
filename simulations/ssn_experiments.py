"""A stochastic E/I circuit (SSN) trained to sample the posterior of a Gaussian scale mixture.

After Echeveste, Aitchison, Hennequin & Lengyel (2020): the excitatory potentials of a
stabilised supralinear network with OU input noise (``circuits.ssn``) are trained by
backpropagation through the noisy dynamics so that their moments, read over a window after
a burn-in and across trials, match the exact GSM posterior's moments at every training
stimulus. The control network is trained on the posterior mean only (Echeveste et al.'s
comparison), so any structure in its variability is not asked for.

Objective (latent units, per stimulus, averaged over a batch of stimuli):
    ||m - mu||^2                                            (mean; both objectives)
  + sum_k (log s_k - log sd_k)^2                            ("moments" only)
  + sum_{k != l} (C_kl - Sigma_kl)^2                        ("moments" only)
with m, C the response mean and covariance and s_k = sqrt(C_kk); mu, Sigma, sd_k the
posterior's. The log-sd term weighs a variance off by a factor the same at every contrast,
so the small posterior variances of high contrasts count as much as the prior's at blank.

Training stimuli: ``n_images`` latents z ~ N(0, I), each shown at every contrast level c,
x = c A z + noise (c = 0 is a blank: noise only, whose posterior is close to the prior).
"""

from __future__ import annotations

import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr

from analysis.generative import GaussianScaleMixture
from circuits._validation import count, positive
from circuits.ssn import StochasticSSN
from simulations.results import config_of, new_dataset, parameter_variables, parameters_of, scalar, variable

__all__ = ["OBJECTIVES", "run_ssn", "train_ssn", "trained_ssn", "gsm_task", "stimuli_at_contrasts", "onset_responses"]

OBJECTIVES = ("moments", "mean")


def gsm_task(seed: int, n_latent: int, n_input: int, noise_std: float, contrast_shape: float = 2.0,
             contrast_scale: float = 0.5) -> GaussianScaleMixture:
    """The GSM of ``run gsm`` with the same seed: A ~ N(0, 1) entries, prior N(0, I)."""
    from simulations.tasks import gsm_model

    return gsm_model(np.random.default_rng(seed), n_latent, n_input, noise_std, contrast_shape, contrast_scale)


def stimuli_at_contrasts(model: GaussianScaleMixture, latents, contrasts, rng: np.random.Generator) -> np.ndarray:
    """x = c A z + noise for every contrast c (outer) and latent z (inner): (C * n, D)."""
    latents = np.atleast_2d(latents)
    return np.concatenate([c * latents @ model.A.T + model.noise_std * rng.standard_normal((len(latents), model.n_obs))
                           for c in np.atleast_1d(contrasts)])


def _moments(ssn: StochasticSSN, params, x, key, n_trials: int, burn_in_steps: int, window_steps: int):
    """Response mean (S, K) and covariance (S, K, K), pooled over trials and the window."""
    u = ssn.simulate(params, ssn.constant_input(x, burn_in_steps + window_steps), key, n_trials)["u"]
    samples = ssn.readout(u[:, :, burn_in_steps:]).reshape(x.shape[0], -1, ssn.n_excitatory)
    mean = samples.mean(1)
    centred = samples - mean[:, None]
    return mean, jnp.einsum("sti,stj->sij", centred, centred) / samples.shape[1]


def _loss_terms(ssn, params, x, target_mean, target_cov, key, n_trials, burn_in_steps, window_steps):
    mean, cov = _moments(ssn, params, x, key, n_trials, burn_in_steps, window_steps)
    mean_term = jnp.mean(jnp.sum((mean - target_mean) ** 2, -1))
    sd = jnp.sqrt(jnp.diagonal(cov, axis1=1, axis2=2) + 1e-8)
    target_sd = jnp.sqrt(jnp.diagonal(target_cov, axis1=1, axis2=2))
    sd_term = jnp.mean(jnp.sum((jnp.log(sd) - jnp.log(target_sd)) ** 2, -1))
    off_diagonal = 1.0 - jnp.eye(ssn.n_excitatory)
    cov_term = jnp.mean(jnp.sum(((cov - target_cov) * off_diagonal) ** 2, (-2, -1)))
    return mean_term, sd_term, cov_term


class _TrainingSetting(NamedTuple):
    """The static part of an SSN training step (hashable: one compilation per setting)."""

    batch_stimuli: int
    trials: int
    burn_in_steps: int
    window_steps: int
    moments_weight: float  # 1 for the "moments" objective, 0 for the "mean" control
    learning_rate: float


def _optimiser(learning_rate: float):
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(learning_rate))


# Compiled once per circuit and setting, not per run: the stimuli and their posterior moments
# are arguments, so the seeds of the onset test reuse one compilation (about 20 s each).
@partial(jax.jit, static_argnums=(0, 1))
def _train_step(ssn: StochasticSSN, setting: _TrainingSetting, params, opt_state, key, task):
    x_all, target_mean, target_cov = task
    key_batch, key_noise = jax.random.split(key)
    index = jax.random.choice(key_batch, x_all.shape[0], (setting.batch_stimuli,), replace=False)

    def loss(params):
        terms = _loss_terms(ssn, params, x_all[index], target_mean[index], target_cov[index], key_noise,
                            setting.trials, setting.burn_in_steps, setting.window_steps)
        return terms[0] + setting.moments_weight * (terms[1] + terms[2]), terms

    (_, terms), grads = jax.value_and_grad(loss, has_aux=True)(params)
    updates, opt_state = _optimiser(setting.learning_rate).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, jnp.stack(terms)


def train_ssn(ssn: StochasticSSN, params, setting: _TrainingSetting, task, steps: int, key, progress: bool = True,
              description: str = "training SSN"):
    """Adam (gradients clipped to global norm 1) on the objective of the module docstring.

    task : (x (S, D), posterior mean (S, K), posterior covariance (S, K, K)), the training
    stimuli and their targets. Returns the trained parameters and the loss terms at every
    step, (steps, 3): mean, log-sd and covariance terms. Raises ``TrainingDiverged`` naming
    the step at which a term stopped being finite.
    """
    from tqdm.auto import tqdm

    opt_state = _optimiser(setting.learning_rate).init(params)
    history = np.zeros((steps, 3))
    for step, step_key in enumerate(tqdm(jax.random.split(key, steps), desc=description, disable=not progress,
                                         leave=False)):
        params, opt_state, terms = _train_step(ssn, setting, params, opt_state, step_key, task)
        history[step] = np.asarray(terms)
        if not np.all(np.isfinite(history[step])):
            from circuits.learning import TrainingDiverged

            raise TrainingDiverged(f"SSN training diverged at step {step}: loss terms {history[step]}")
    return params, history


def run_ssn(seed: int, objective: str = "moments", n_latent: int = 4, n_input: int = 8, noise_std: float = 0.5,
            contrast_levels=(0.0, 0.25, 0.5, 1.0, 2.0), n_images: int = 40, steps: int = 1200,
            batch_stimuli: int = 20, trials: int = 16, burn_in: float = 0.1, window: float = 0.2,
            learning_rate: float = 0.01, dt: float = 0.0005, progress: bool = True) -> xr.Dataset:
    """Train an SSN to sample the GSM posterior (``objective="moments"``) or to match its mean
    only (``"mean"``, the control). Returns the task, the trained parameters and the training
    history; ``trained_ssn`` rebuilds the circuit from it.

    burn_in, window : seconds simulated from rest before moments are read, and read over.
    trials : noisy trials per stimulus per training step. batch_stimuli : stimuli per step.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    count("seed", seed, 0)
    for name, value in (("n_images", n_images), ("steps", steps), ("trials", trials)):
        count(name, value, 1)
    levels = np.asarray(contrast_levels, dtype=float)
    if levels.ndim != 1 or levels.size < 1 or np.any(levels < 0) or not np.all(np.isfinite(levels)):
        raise ValueError("contrast_levels must be one or more contrasts >= 0")
    positive("learning_rate", learning_rate)
    started = time.perf_counter()
    model = gsm_task(seed, n_latent, n_input, noise_std)
    rng = np.random.default_rng([seed, 1])
    x_train = stimuli_at_contrasts(model, rng.standard_normal((n_images, n_latent)), levels, rng)
    batch_stimuli = min(count("batch_stimuli", batch_stimuli, 1), len(x_train))
    posterior = model.posterior(x_train)
    ssn = StochasticSSN(n_input, n_latent, dt=dt)
    burn_in_steps = int(round(positive("burn_in", burn_in) / dt))
    window_steps = int(round(positive("window", window) / dt))
    key_init, key_train = jax.random.split(jax.random.PRNGKey(seed))
    params = ssn.init(key_init)
    setting = _TrainingSetting(batch_stimuli, trials, burn_in_steps, window_steps,
                               1.0 if objective == "moments" else 0.0, learning_rate)
    task = (jnp.asarray(x_train), jnp.asarray(posterior.mean), jnp.asarray(posterior.cov))
    params, history = train_ssn(ssn, params, setting, task, steps, key_train, progress, f"training SSN ({objective})")

    data_vars = {
        "A": variable(("obs", "latent"), model.A, "1", "generative weights"),
        "prior_cov": variable(("latent", "latent_"), model.prior_cov, "1", "prior covariance of z"),
        "loss_mean": variable("step", history[:, 0], "1", "mean term of the objective (latent units^2)"),
        "loss_log_sd": variable("step", history[:, 1], "1", "log-sd term of the objective"),
        "loss_covariance": variable("step", history[:, 2], "1", "off-diagonal covariance term (latent units^2)"),
    }
    tail = history[-min(100, steps):].mean(0)  # the last steps, averaged over their batch noise
    for name, value in zip(("ssn_loss_mean", "ssn_loss_log_sd", "ssn_loss_covariance"), tail, strict=True):
        data_vars[name] = scalar(value, "1", f"{name[4:].replace('_', ' ')} term, mean of the last 100 steps")
    data_vars.update(parameter_variables(params, "trained SSN parameter (units in circuits.ssn):"))
    coords = {"step": variable("step", np.arange(1, steps + 1), "1", "optimiser step"),
              "obs": variable("obs", np.arange(n_input), "1", "input dimension"),
              "latent": variable("latent", np.arange(n_latent), "1", "latent / excitatory cell"),
              "latent_": variable("latent_", np.arange(n_latent), "1", "second latent axis")}
    config = {"experiment": "ssn", "seed": seed, "objective": objective, "n_latent": n_latent, "n_input": n_input,
              "noise_std": noise_std, "contrast_levels": levels.tolist(), "n_images": n_images, "steps": steps,
              "batch_stimuli": batch_stimuli, "trials": trials, "burn_in": burn_in, "window": window,
              "learning_rate": learning_rate, "dt": dt}
    ds = new_dataset(data_vars, coords, config, "ssn")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds


def trained_ssn(results: xr.Dataset):
    """(circuit, params, GSM task, config) rebuilt from a ``run ssn`` results Dataset."""
    config = config_of(results)
    if config.get("experiment") != "ssn":
        raise ValueError(f"expected an ssn results file, got {config.get('experiment')!r}")
    ssn = StochasticSSN(config["n_input"], config["n_latent"], dt=config["dt"])
    params = {name: jnp.asarray(value, dtype=jnp.float32) for name, value in parameters_of(results).items()}
    return ssn, params, gsm_task(config["seed"], config["n_latent"], config["n_input"], config["noise_std"]), config


def onset_responses(ssn: StochasticSSN, params, stimuli, key, n_trials: int, blank: float, duration: float,
                    record_every: int = 2):
    """Potentials around stimulus onset: ``blank`` seconds of x = 0 from rest, then each stimulus
    for ``duration`` seconds (``simulations.protocols.stimulus_onset``).

    Returns (time (T,) seconds relative to onset, at the end of each recorded step;
    u (S, n_trials, T, n_units) mV). Stimuli run one at a time to bound memory.
    """
    from simulations.protocols import stimulus_onset

    protocol = stimulus_onset(np.atleast_2d(stimuli), blank=blank, duration=duration, dt=ssn.dt)
    inputs = protocol["input"].values
    keys = jax.random.split(key, inputs.shape[0])
    u = np.stack([np.asarray(ssn.simulate(params, jnp.asarray(inputs[i:i + 1]), keys[i], n_trials,
                                          record_every=record_every)["u"][0]) for i in range(inputs.shape[0])])
    time = protocol["time"].values[record_every - 1::record_every] + ssn.dt
    return time, u
