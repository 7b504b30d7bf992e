"""Training spiking circuits under local costs, with an unbiased gradient.

Objective (nats per input). A trial's readout z (``circuits.spiking_trials``) is scored with
the rate circuits' decoding error and prior energy (``circuits.learning.Objective``: decoder
A, precision P, activity cost Q = the prior precision, contrast nodes), and every cost is
paid where it arises:

    J = E_x E_trial[ -log sum_j w_j exp(-1/2 |x - c_j A z|_P^2) + 1/2 z^T Q z + kappa sum_i n_i ]
        + E_x[ 1/2 kappa_I sum_i I_i(x)^2 ] + sum_i cost(delta_i),

kappa the metabolic cost per spike (nats per spike, on the window's spikes n_i), kappa_I
that of the synaptic drive I_i(x) (nats per squared threshold unit; synaptic currents are
most of a cortical neuron's energy budget, Attwell & Laughlin 2001), and cost() the
objective's reliability family (``circuits.reliability``) on each noise source's scale
(``noise_scales``): each escape-noise neuron's width delta_i (``circuits.escape_noise``; a
sharper threshold costs more), or each synapse's coefficient of variation
sqrt((1 - p) / p) (``circuits.release_lif``; a more reliable release costs more). The drive's cost
gives delta its scale: without it, widening delta and the drive together leaves the firing
unchanged and the reliability cost falls without bound. There is no entropy term and no
cost on the readout's covariance: whether the readout comes to sample the posterior is what
training under these costs measures.

Gradient. The random events s of a trial (escape-noise spikes, or synaptic releases) are
discrete, so the path derivative through them does not exist. The estimator is the score
function (likelihood ratio; Williams 1992): with l(s, theta) a trial's loss and
log p(s; theta) the events' log-probability (exact, the circuit's ``simulate``),

    grad E[l] = E[grad_theta l(s, theta) + (l - b) grad_theta log p(s; theta)],

unbiased for any baseline b independent of the trial; b is the mean loss of the other
trials of the same input (leave-one-out; Kool, van Hoof & Welling 2019). For escape noise
the events are the spikes, l depends on theta only through the readout, and the estimator
is unbiased where surrogate gradients are not; its variance grows with neurons x steps,
which limits it to small circuits. For LIF neurons with stochastic release the spikes are a
deterministic function of the releases through a hard threshold, and grad_theta l carries
a surrogate gradient for the quanta and biases (``circuits.release_lif``): unbiased for the
release probabilities and the readout, biased for the rest.
``expected_loss_by_enumeration`` computes J exactly for tiny circuits (every event pattern
summed over), the reference of the estimator's check.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr
from tqdm.auto import tqdm

from circuits._pytree import register_frozen_dataclass
from circuits._validation import count, positive
from circuits.learning import Objective, TrainingDiverged, decaying_adam, decoding_error_per_response
from circuits.spiking_trials import TrialSpikingCircuit

__all__ = ["SpikingObjective", "SpikingTrainingConfig", "trial_losses", "surrogate_loss", "train_spiking",
           "expected_loss_by_enumeration", "ENUMERATION_MAX_BITS"]

#: Largest events x steps whose patterns ``expected_loss_by_enumeration`` sums over (2^bits).
ENUMERATION_MAX_BITS = 16


@dataclass(frozen=True)
class SpikingObjective:
    """The objective of the module docstring.

    Parameters
    ----------
    objective : the readout's decoding and prior terms and the reliability family
        (``circuits.learning.Objective``; fixed decoder and precision).
    spike_cost : kappa >= 0, nats per spike.
    drive_cost : kappa_I >= 0, nats per squared threshold unit of drive, per neuron.
    """

    objective: Objective
    spike_cost: float = 0.0
    drive_cost: float = 0.0

    def __post_init__(self):
        if not isinstance(self.objective, Objective):
            raise ValueError("objective must be a circuits.learning.Objective")
        if self.objective.learn_decoder or self.objective.learn_precision:
            raise ValueError("spiking circuits are trained with a fixed decoder and precision")
        for name in ("spike_cost", "drive_cost"):
            value = float(getattr(self, name))
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0 (nats), got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)

    def reliability(self, circuit: TrialSpikingCircuit, params):
        """The reliability family summed over the circuit's noise scales (nats per input)."""
        return self.objective.reliability(circuit.noise_scales(params))


register_frozen_dataclass(SpikingObjective, leaves=("objective", "spike_cost", "drive_cost"), static=())


@dataclass(frozen=True)
class SpikingTrainingConfig:
    """Optimiser steps, inputs per step (``batch_size``), trials per input (``trials``, >= 2
    for the leave-one-out baseline), Adam's step size decayed from ``learning_rate`` to
    ``final_learning_rate``, and steps per compiled chunk (``steps_per_check``)."""

    steps: int = 2000
    batch_size: int = 32
    trials: int = 16
    learning_rate: float = 0.01
    final_learning_rate: float = 1e-4
    steps_per_check: int = 100

    def __post_init__(self):
        count("steps", self.steps, 1)
        count("batch_size", self.batch_size, 1)
        count("trials", self.trials, 2)
        count("steps_per_check", self.steps_per_check, 1)
        positive("learning_rate", self.learning_rate)
        positive("final_learning_rate", self.final_learning_rate)


def _trial_terms(circuit: TrialSpikingCircuit, objective: SpikingObjective, params, x, counts) -> dict:
    """Each term of each trial's loss, (n, trials), from window counts (n, trials, N): the
    readout's decoding error and prior energy, kappa per spike, and its input's drive cost."""
    samples = circuit.readout(params, counts)
    drive = 0.5 * objective.drive_cost * jnp.sum(circuit.drive(params, x) ** 2, axis=-1)
    return {"decoding_error": decoding_error_per_response(objective.objective, params, x, samples),
            "prior_energy": objective.objective.activity_per_response(samples),
            "spike_cost": objective.spike_cost * jnp.sum(counts, axis=-1),
            "drive_cost": jnp.broadcast_to(drive[:, None], counts.shape[:2])}


def trial_losses(circuit: TrialSpikingCircuit, objective: SpikingObjective, params, x, counts):
    """Each trial's loss l (n, trials) from window counts (n, trials, N): decoding error and
    prior energy of its readout, kappa per spike, and its input's drive cost."""
    return sum(_trial_terms(circuit, objective, params, x, counts).values())


def surrogate_loss(circuit: TrialSpikingCircuit, objective: SpikingObjective, params, x, key, n_trials: int):
    """A scalar whose gradient is the score-function estimate of grad J on inputs x (n, D)
    with ``n_trials`` trials each (module docstring), and the terms: ``loss`` (the estimate
    of J), ``decoding_error``, ``prior_energy``, ``spike_cost``, ``drive_cost``,
    ``reliability_cost``, ``rate`` (spikes/s per neuron)."""
    simulated = circuit.simulate(params, x, key, n_trials)
    counts = simulated["counts"]
    per_trial = _trial_terms(circuit, objective, params, x, counts)
    losses = sum(per_trial.values())
    others = (jnp.sum(losses, axis=1, keepdims=True) - losses) / (n_trials - 1)
    advantage = jax.lax.stop_gradient(losses - others)
    reliability = objective.reliability(circuit, params)
    surrogate = jnp.mean(losses + advantage * simulated["log_prob"]) + reliability
    terms = {name: jnp.mean(values) for name, values in per_trial.items()}
    terms.update(loss=jnp.mean(losses) + reliability, reliability_cost=reliability,
                 rate=jnp.mean(counts) / circuit.window)
    return surrogate, terms


@partial(jax.jit, static_argnums=(0, 1))
def _run_chunk(circuit, config: SpikingTrainingConfig, objective, data, carry, keys):
    """``len(keys)`` optimiser steps in one compiled scan."""
    optimizer = decaying_adam(config)

    def step(carry, step_key):
        params, opt_state = carry
        key_batch, key_trials = jax.random.split(step_key)
        x = data[jax.random.randint(key_batch, (config.batch_size,), 0, data.shape[0])]
        grads, terms = jax.grad(lambda p: surrogate_loss(circuit, objective, p, x, key_trials, config.trials),
                                has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), terms

    return jax.lax.scan(step, carry, keys)


def train_spiking(circuit: TrialSpikingCircuit, objective: SpikingObjective, data, key,
                  config: SpikingTrainingConfig = SpikingTrainingConfig(), params: dict | None = None,
                  progress: bool = True):
    """Train ``circuit`` on inputs ``data`` (N, D) under ``objective``.

    Returns (params, history): trained parameters (dict of NumPy arrays) and an
    xarray.Dataset of the estimated terms per step (dim ``step``).

    Raises
    ------
    ValueError : data of the wrong shape or not finite.
    TrainingDiverged : a non-finite loss or parameter (the message gives the step).
    """
    data = np.asarray(data, dtype=float)
    if data.ndim != 2 or data.shape[1] != circuit.n_input:
        raise ValueError(f"data must have shape (N, {circuit.n_input}), got {data.shape}")
    if not np.all(np.isfinite(data)):
        raise ValueError("data contains NaN or infinite values")
    if objective.objective.decoder.shape[1] != circuit.n_latent:
        raise ValueError(f"the objective's decoder has {objective.objective.decoder.shape[1]} latents, "
                         f"the circuit reads out {circuit.n_latent}")
    key_init, key_loop = jax.random.split(key)
    params = circuit.init(key_init) if params is None else params
    params = {name: jnp.asarray(value, dtype=jnp.result_type(float)) for name, value in params.items()}
    carry = (params, decaying_adam(config).init(params))
    data_j = jnp.asarray(data)
    history, done = [], 0
    with tqdm(total=config.steps, disable=not progress, unit="step", desc="training spiking circuit") as bar:
        while done < config.steps:
            n = min(config.steps_per_check, config.steps - done)
            key_loop, key_chunk = jax.random.split(key_loop)
            carry, terms = _run_chunk(circuit, config, objective, data_j, carry, jax.random.split(key_chunk, n))
            terms = {name: np.asarray(value, dtype=float) for name, value in terms.items()}
            finite = np.isfinite(terms["loss"])
            if not finite.all() or not all(np.all(np.isfinite(v)) for v in carry[0].values()):
                first_bad = done + (int(np.argmin(finite)) + 1 if not finite.all() else n)
                raise TrainingDiverged(f"training diverged at step {first_bad}: the loss or a parameter is not "
                                       "finite. Try a smaller learning rate.")
            history.append(terms)
            done += n
            bar.update(n)
            bar.set_postfix(loss=f"{terms['loss'][-1]:.4g}", rate=f"{terms['rate'][-1]:.3g}/s")
    units = {"rate": "spikes/s"}
    steps_coord = np.arange(1, config.steps + 1)
    dataset = xr.Dataset(
        {name: ("step", np.concatenate([h[name] for h in history]),
                {"units": units.get(name, "nats"), "description": f"{name.replace('_', ' ')} (minibatch estimate)"})
         for name in history[0]},
        coords={"step": ("step", steps_coord, {"units": "1", "description": "optimiser step"})})
    return {name: np.asarray(value) for name, value in carry[0].items()}, dataset


def expected_loss_by_enumeration(circuit: TrialSpikingCircuit, objective: SpikingObjective, params, x) -> float:
    """J exactly, for one input x (D,): the loss of every possible pattern of random events
    (spike trains, or release draws) weighted by its probability, plus the reliability cost.
    Only for circuits with events per step x steps <= ``ENUMERATION_MAX_BITS`` (the sum has
    2^bits terms)."""
    bits = circuit.events_per_step * circuit.n_steps
    if bits > ENUMERATION_MAX_BITS:
        raise ValueError(f"enumeration needs events per step x steps <= {ENUMERATION_MAX_BITS}, got {bits}")
    patterns = np.array(list(itertools.product((0.0, 1.0), repeat=bits)))
    events = patterns.reshape(1, -1, circuit.n_steps, circuit.events_per_step)
    x = jnp.asarray(x)[None, :]
    log_prob, counts = circuit.log_prob(params, x, events)
    losses = trial_losses(circuit, objective, params, x, counts)
    return jnp.sum(jnp.exp(log_prob) * losses) + objective.reliability(circuit, params)
