"""Training objective and loop: decodability + metabolic cost + reliability cost (JAX + optax).

Objective, averaged over inputs x and the circuit's noisy responses r:

    L = E[ decoding_error(x, r) ] + E[ 1/2 r^T Q r ] + E_x[ reliability cost ]

decoding_error(x, r) = -log sum_j w_j exp(-1/2 sum_d P_d (x_d - c_j (A r)_d)^2)
    A is the decoder (D, K), fixed to the generative weights or learned; P = 1/noise^2
    the decoding precision. With a single node (c = 1, w = 1) this is the squared error
    1/2 sum_d P_d (x_d - (A r)_d)^2; with nodes c_j and weights w_j from a contrast prior it
    is -log p(x | r) of a Gaussian scale mixture (contrast integrated out by quadrature).
Q is the metabolic cost on activity. With Q the prior precision, P the observation
precision and the log cost at strength 1, L is the negative ELBO of the generative model
up to a constant, so the optimal response distribution is the posterior (Aitchison,
Hennequin & Lengyel 2018); noise is reparameterised (r = mean + noise) so gradients flow.

Where the reliability cost is charged (``Objective.charge``):
``"responses"`` (default)
    on the noise covariance of the representation neurons' responses: per neuron for a
    single-layer circuit (independent noise: exactly the per-neuron cost), along the
    principal axes of Cov(r | x) for correlated-noise circuits (``of_covariance``; the
    entropy for the log cost, so the ELBO identity stays exact).
``"neurons"``
    on every independent noise source (each hidden and recurrent neuron pays for its own
    sigma). This is not the response entropy, and it is degenerate: a hidden neuron with
    outgoing weights a and noise sd s adds a^2 s^2 to the response variance but is paid
    for by -log s alone, so s -> infinity with a -> 0 lowers the cost for free; a recurrent
    circuit can likewise trade speed for noise. Kept to demonstrate that failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr
from tqdm.auto import tqdm

from circuits._validation import count, positive
from circuits.recurrent import RecurrentCircuit

__all__ = ["Objective", "TrainingConfig", "TrainingDiverged", "train", "loss_terms", "CHARGES"]

CHARGES = ("responses", "neurons")


class TrainingDiverged(RuntimeError):
    """Training produced non-finite losses or unstable dynamics; the message says where."""


def _positive_array(name, value, shape=None):
    array = np.asarray(value, dtype=float)
    if shape is not None:
        try:
            array = np.broadcast_to(array, shape).copy()
        except ValueError:
            raise ValueError(f"{name} must be a scalar or have shape {shape}, got {array.shape}") from None
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must be finite and > 0")
    return array


@dataclass(frozen=True, eq=False)
class Objective:
    """What the circuit is trained to do (see module docstring).

    Parameters
    ----------
    decoder : (D, K) decoding weights A (initial value if ``learn_decoder``).
    decoding_precision : scalar or (D,), P = 1 / observation noise variance (> 0).
    activity_cost : (K, K) symmetric positive semi-definite metabolic cost matrix Q.
    reliability : a cost from ``circuits.reliability``.
    learn_decoder : train A together with the circuit.
    charge : ``"responses"`` or ``"neurons"``.
    contrast_nodes, contrast_weights : (J,) quadrature nodes c_j > 0 and weights w_j
        (summing to 1) of a contrast prior; default a single node c = 1.
    """

    decoder: np.ndarray
    decoding_precision: np.ndarray | float
    activity_cost: np.ndarray
    reliability: object
    learn_decoder: bool = False
    charge: str = "responses"
    contrast_nodes: np.ndarray = field(default_factory=lambda: np.ones(1))
    contrast_weights: np.ndarray = field(default_factory=lambda: np.ones(1))

    def __post_init__(self):
        decoder = np.asarray(self.decoder, dtype=float)
        if decoder.ndim != 2 or not np.all(np.isfinite(decoder)):
            raise ValueError(f"decoder must be a finite (D, K) matrix, got shape {decoder.shape}")
        n_obs, n_latent = decoder.shape
        precision = _positive_array("decoding_precision", self.decoding_precision, (n_obs,))
        activity = np.asarray(self.activity_cost, dtype=float)
        if activity.shape != (n_latent, n_latent) or not np.allclose(activity, activity.T):
            raise ValueError(f"activity_cost must be a symmetric ({n_latent}, {n_latent}) matrix")
        if np.linalg.eigvalsh(activity).min() < -1e-10:
            raise ValueError("activity_cost must be positive semi-definite")
        if not callable(getattr(self.reliability, "of_covariance", None)):
            raise ValueError("reliability must be a cost from circuits.reliability")
        if self.charge not in CHARGES:
            raise ValueError(f"charge must be one of {CHARGES}, got {self.charge!r}")
        nodes = _positive_array("contrast_nodes", self.contrast_nodes)
        weights = np.asarray(self.contrast_weights, dtype=float)
        if weights.shape != nodes.shape or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise ValueError("contrast_weights must be non-negative, sum to 1 and match contrast_nodes")
        for name, value in (("decoder", decoder), ("decoding_precision", precision),
                            ("activity_cost", activity), ("contrast_nodes", nodes), ("contrast_weights", weights)):
            object.__setattr__(self, name, value)

    @classmethod
    def for_linear_gaussian(cls, A, noise_std, prior_cov, reliability, **kwargs) -> Objective:
        """The objective whose log-cost version is the negative ELBO of z ~ N(0, C), x = A z + noise."""
        return cls(decoder=A, decoding_precision=1.0 / np.asarray(noise_std, dtype=float) ** 2,
                   activity_cost=np.linalg.inv(prior_cov), reliability=reliability, **kwargs)


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings.

    steps : optimiser steps. batch_size : inputs per step. noise_samples : responses
    (trials) per input per step. learning_rate -> final_learning_rate : Adam step size,
    decayed exponentially over the run. steps_per_check : steps run inside one compiled
    ``lax.scan`` between divergence checks and progress updates. window_steps,
    burn_in_steps : for recurrent circuits, the Euler steps whose states are the
    responses, and the steps discarded before them (linear circuits start from a
    stationary draw, so they need none).
    """

    steps: int = 3000
    batch_size: int = 64
    noise_samples: int = 16
    learning_rate: float = 0.02
    final_learning_rate: float = 2e-4
    steps_per_check: int = 100
    window_steps: int = 40
    burn_in_steps: int = 0

    def __post_init__(self):
        for name in ("steps", "batch_size", "noise_samples", "steps_per_check", "window_steps"):
            count(name, getattr(self, name), 1)
        count("burn_in_steps", self.burn_in_steps, 0)
        positive("learning_rate", self.learning_rate)
        positive("final_learning_rate", self.final_learning_rate)


def _training_responses(circuit, params, x, key, config: TrainingConfig):
    """Responses used in the objective, (n, samples, K)."""
    if isinstance(circuit, RecurrentCircuit):
        linear = circuit.variant == "linear"
        states = circuit.simulate(params, x, key, config.noise_samples,
                                  config.burn_in_steps + config.window_steps,
                                  initial="stationary" if linear else "rest",
                                  record_from=config.burn_in_steps)
        return states.reshape(x.shape[0], -1, circuit.n_output)
    return circuit.sample(params, x, key, config.noise_samples)["responses"]


def _reliability(circuit, params, x, responses, objective: Objective):
    cost = objective.reliability
    if objective.charge == "neurons":
        return sum(cost(sd) for sd in circuit.noise_sources(params, x)) / x.shape[0]
    if not circuit.has_correlated_noise:
        return cost(circuit.output_noise_std(params, x)) / x.shape[0]
    if isinstance(circuit, RecurrentCircuit) and circuit.variant != "linear":
        # No closed form: the within-input covariance of the simulated window.
        centred = responses - responses.mean(axis=1, keepdims=True)
        cov = jnp.einsum("nsi,nsj->nij", centred, centred) / (responses.shape[1] - 1)
        cov = cov + 1e-6 * jnp.eye(cov.shape[-1])
    else:
        cov = circuit.response_covariance(params, x)
    return jnp.mean(cost.of_covariance(cov))


def loss_terms(circuit, params, objective: Objective, x, key, config: TrainingConfig) -> dict:
    """The objective's terms (each averaged over inputs and responses) and their sum ``loss``."""
    responses = _training_responses(circuit, params, x, key, config)
    decoder = params["decoder"] if objective.learn_decoder else jnp.asarray(objective.decoder)
    prediction = responses @ decoder.T  # (n, S, D)
    nodes = jnp.asarray(objective.contrast_nodes)
    residual = x[:, None, None, :] - prediction[:, :, None, :] * nodes[None, None, :, None]  # (n, S, J, D)
    squared = 0.5 * jnp.sum(jnp.asarray(objective.decoding_precision) * residual**2, axis=-1)
    log_weights = jnp.log(jnp.asarray(objective.contrast_weights))
    decoding = jnp.mean(-jax.scipy.special.logsumexp(log_weights - squared, axis=-1))
    activity = 0.5 * jnp.mean(jnp.einsum("nsi,ij,nsj->ns", responses, jnp.asarray(objective.activity_cost), responses))
    reliability = _reliability(circuit, params, x, responses, objective)
    return {"loss": decoding + activity + reliability, "decoding_error": decoding,
            "activity_cost": activity, "reliability_cost": reliability}


def _history_dataset(terms: dict) -> xr.Dataset:
    steps = np.arange(1, len(terms["loss"]) + 1)
    descriptions = {"loss": "total objective", "decoding_error": "decoding error of x from r",
                    "activity_cost": "metabolic cost on activity", "reliability_cost": "reliability cost"}
    return xr.Dataset(
        {name: ("step", np.asarray(values, dtype=float),
                {"units": "nats", "description": descriptions[name] + " (nats when the objective is a negative ELBO)"})
         for name, values in terms.items()},
        coords={"step": ("step", steps, {"units": "1", "description": "optimiser step"})},
    )


def train(circuit, objective: Objective, data, key, config: TrainingConfig = TrainingConfig(),
          params: dict | None = None, progress: bool = True):
    """Train ``circuit`` on ``data`` under ``objective``.

    Parameters
    ----------
    circuit : a FeedforwardCircuit or RecurrentCircuit.
    objective : Objective.
    data : (N, D) training inputs (NumPy), minibatches drawn with replacement.
    key : JAX PRNG key (all randomness: initialisation, minibatches, noise).
    config : TrainingConfig.
    params : initial parameters (default ``circuit.init``).
    progress : show a tqdm progress bar.

    Returns
    -------
    params : trained parameters (dict of arrays).
    history : xarray.Dataset of the loss terms per step (dim ``step``).

    Raises
    ------
    TrainingDiverged : non-finite loss, or (recurrent) an Euler spectral radius >= 1.
    """
    data = np.asarray(data, dtype=float)
    if data.ndim != 2 or data.shape[1] != objective.decoder.shape[0]:
        raise ValueError(f"data must have shape (N, {objective.decoder.shape[0]}), got {data.shape}")
    if not np.all(np.isfinite(data)):
        raise ValueError("data contains NaN or infinite values")
    key_init, key_loop = jax.random.split(key)
    if params is None:
        params = circuit.init(key_init)
    params = dict(params)
    linear_recurrent = isinstance(circuit, RecurrentCircuit) and circuit.variant == "linear"
    if linear_recurrent:
        circuit.check_stable(params)  # ValueError naming the spectral radius
    if objective.learn_decoder:
        params.setdefault("decoder", jnp.asarray(objective.decoder))
    data_j = jnp.asarray(data)
    schedule = optax.exponential_decay(config.learning_rate, transition_steps=config.steps,
                                       decay_rate=config.final_learning_rate / config.learning_rate)
    optimizer = optax.adam(schedule)

    def total(p, x, k):
        terms = loss_terms(circuit, p, objective, x, k, config)
        return terms["loss"], terms

    def step(carry, step_key):
        p, opt_state = carry
        key_batch, key_noise = jax.random.split(step_key)
        x = data_j[jax.random.randint(key_batch, (config.batch_size,), 0, data_j.shape[0])]
        (_, terms), grads = jax.value_and_grad(total, has_aux=True)(p, x, key_noise)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), terms

    run_chunk = jax.jit(lambda carry, keys: jax.lax.scan(step, carry, keys))
    carry = (params, optimizer.init(params))
    history = {name: [] for name in ("loss", "decoding_error", "activity_cost", "reliability_cost")}
    done = 0
    with tqdm(total=config.steps, disable=not progress, unit="step", desc=f"training {type(circuit).__name__}") as bar:
        while done < config.steps:
            n = min(config.steps_per_check, config.steps - done)
            key_loop, key_chunk = jax.random.split(key_loop)
            previous_params = carry[0]
            carry, terms = run_chunk(carry, jax.random.split(key_chunk, n))
            losses = np.asarray(terms["loss"])
            if not np.all(np.isfinite(losses)):
                first_bad = done + int(np.argmin(np.isfinite(losses))) + 1
                detail = ""
                if linear_recurrent:
                    detail = (f"; the spectral radius of the Euler update matrix was "
                              f"{circuit.spectral_radius(previous_params):.4f} at step {done}")
                raise TrainingDiverged(f"training diverged at step {first_bad}: the loss is not finite{detail}. "
                                       "Try a smaller learning rate.")
            if linear_recurrent:
                radius = circuit.spectral_radius(carry[0])
                if radius >= 1.0:
                    raise TrainingDiverged(f"training diverged at step {done + n}: spectral radius of the Euler "
                                           f"update matrix is {radius:.4f} (must be < 1)")
            for name in history:
                history[name].append(np.asarray(terms[name]))
            done += n
            bar.update(n)
            bar.set_postfix(loss=f"{losses[-1]:.4g}")
    params = jax.tree_util.tree_map(np.asarray, carry[0])
    return params, _history_dataset({k: np.concatenate(v) for k, v in history.items()})
