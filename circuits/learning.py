"""Training objective and loop: decodability + metabolic cost + reliability cost (JAX + optax).

Objective, averaged over inputs x and the circuit's noisy responses r:

    L = E[ decoding_error(x, r) ] + E[ 1/2 r^T Q r ] + E_x[ reliability cost ]

decoding_error(x, r) = -log sum_j w_j exp(-1/2 sum_d P_d (x_d - c_j (A r)_d)^2)
    A is the decoder (D, K), fixed to the generative weights or learned; P = 1/noise^2
    the decoding precision, fixed or learned. With a single node (c = 1, w = 1) this is the
    squared error 1/2 sum_d P_d (x_d - (A r)_d)^2; with nodes c_j and weights w_j from a
    contrast prior it is -log p(x | r) of a Gaussian scale mixture (contrast integrated out
    by quadrature). When P is learned the decoding error is the full Gaussian negative
    log-likelihood, adding -1/2 sum_d log P_d + D/2 log 2 pi; without the log-determinant
    the optimum would be P -> 0.
Q is the metabolic cost on activity. ``activity_form="absolute"`` charges each neuron
Q_kk |r_k| instead (Q diagonal): the negative log of a Laplace prior with scale 1 / Q_kk up to
a constant, the sparse-coding model of Olshausen & Field (1996). ``activity_form="student-t"``
charges (nu + 1)/2 log(1 + Q_kk r_k^2 / nu): the negative log of a Student t prior with nu
degrees of freedom (``activity_dof``) and scale Q_kk^-1/2, up to a constant, the heavier-tailed
sparse prior of Olshausen & Field's (1997) Cauchy-like codes. A learned decoder's
columns can then be held at a fixed norm (``decoder_norm``): otherwise the absolute cost
falls without bound as A grows and r shrinks (the same constraint as in sparse coding).
With Q the prior precision, P the observation
precision and the log cost at strength 1, L is the negative ELBO of the generative model
up to a constant, so the optimal response distribution is the posterior (Aitchison,
Hennequin & Lengyel 2018); noise is reparameterised (r = mean + noise) so gradients flow.
With a learned decoder and precision and a fixed Q, the circuit implies the generative
model z ~ N(0, Q^-1), x | z ~ N(A z, P^-1) (``implied_model`` in ``simulations``); a
single-layer linear circuit under the log cost is then a linear VAE, whose optimum is
maximum-likelihood probabilistic PCA (Tipping & Bishop 1999; Lucas et al. 2019).

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
``"local"``
    every cost is paid where it arises, and no term needs another neuron's state: each
    noise source (output, hidden and recurrent neuron) pays the reliability cost of its own
    sd, and each neuron pays the activity cost on its own rate, 1/2 Q_ii r_i^2 for the
    representation neurons (the off-diagonal part of Q, which couples two neurons, is not
    charged) and 1/2 q_h h_j^2 for the hidden neurons (``hidden_activity_cost`` q_h). The
    hidden activity cost closes the degeneracy of ``"neurons"``: E[h_j^2] includes
    s_j^2, so a hidden neuron's noise cannot grow for free. This is not the ELBO except for a
    single-layer circuit with a diagonal Q; how far it is from it is what the emergence
    experiment measures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr
from tqdm.auto import tqdm

from circuits._pytree import register_frozen_dataclass
from circuits._validation import count, positive
from circuits.feedforward import WEIGHT_DRAWS, FeedforwardCircuit
from circuits.recurrent import RecurrentCircuit

__all__ = ["Objective", "TrainingConfig", "TrainingDiverged", "train", "loss_terms", "decoding_error_per_response",
           "decaying_adam", "CHARGES", "PRECISION_SHAPES", "WINDOW_STARTS", "ACTIVITY_FORMS"]

CHARGES = ("responses", "neurons", "local")
PRECISION_SHAPES = ("isotropic", "diagonal")
WINDOW_STARTS = ("stationary", "spontaneous")
ACTIVITY_FORMS = ("quadratic", "absolute", "student-t")


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
    charge : ``"responses"``, ``"neurons"`` or ``"local"`` (see the module docstring).
    contrast_nodes, contrast_weights : (J,) quadrature nodes c_j > 0 and weights w_j
        (summing to 1) of a contrast prior; default a single node c = 1.
    learn_precision : train P together with the circuit (``decoding_precision`` is then
        its initial value) and use the full Gaussian negative log-likelihood.
    precision_shape : ``"isotropic"`` (one P for every input dimension) or ``"diagonal"``
        (one per input dimension); only with ``learn_precision``.
    hidden_activity_cost : q_h >= 0, the activity cost each hidden neuron pays on its own
        rate under the ``"local"`` charge (default: the mean of diag(Q), the output
        neurons' coefficient); only with ``charge="local"``.
    activity_form : ``"quadratic"`` (1/2 r^T Q r, a Gaussian prior), ``"absolute"``
        (sum_k Q_kk |r_k|, a Laplace prior) or ``"student-t"`` (sum_k (nu + 1)/2
        log(1 + Q_kk r_k^2 / nu), a Student t prior); Q must be diagonal for the last two.
        Hidden neurons pay the quadratic cost in every case.
    activity_dof : nu > 0, the Student t's degrees of freedom; only with
        ``activity_form="student-t"``.
    decoder_norm : with ``learn_decoder``, the Euclidean norm every decoder column is held
        at (the decoder in use is the parameter with its columns rescaled); None leaves the
        norm free.

    Attributes
    ----------
    has_hidden_activity_cost : whether hidden neurons pay a positive activity cost (set from
        ``hidden_activity_cost``; static when the objective is passed to a compiled function).
    """

    decoder: np.ndarray
    decoding_precision: np.ndarray | float
    activity_cost: np.ndarray
    reliability: object
    learn_decoder: bool = False
    charge: str = "responses"
    contrast_nodes: np.ndarray = field(default_factory=lambda: np.ones(1))
    contrast_weights: np.ndarray = field(default_factory=lambda: np.ones(1))
    learn_precision: bool = False
    precision_shape: str = "isotropic"
    hidden_activity_cost: float | None = None
    activity_form: str = "quadratic"
    activity_dof: float | None = None
    decoder_norm: float | None = None

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
        if self.precision_shape not in PRECISION_SHAPES:
            raise ValueError(f"precision_shape must be one of {PRECISION_SHAPES}, got {self.precision_shape!r}")
        if self.precision_shape != "isotropic" and not self.learn_precision:
            raise ValueError("precision_shape applies to a learned precision only (learn_precision=True)")
        hidden_cost = self.hidden_activity_cost
        if hidden_cost is not None:
            if self.charge != "local":
                raise ValueError("hidden_activity_cost applies to the 'local' charge only "
                                 f"(charge is {self.charge!r})")
            hidden_cost = float(hidden_cost)
            if not np.isfinite(hidden_cost) or hidden_cost < 0:
                raise ValueError(f"hidden_activity_cost must be finite and >= 0, got {self.hidden_activity_cost!r}")
        elif self.charge == "local":
            hidden_cost = float(np.mean(np.diag(activity)))
        if self.activity_form not in ACTIVITY_FORMS:
            raise ValueError(f"activity_form must be one of {ACTIVITY_FORMS}, got {self.activity_form!r}")
        if (self.activity_dof is None) != (self.activity_form != "student-t"):
            raise ValueError("activity_dof is the Student t's degrees of freedom: give it with activity_form "
                             f"'student-t' only (activity_form {self.activity_form!r}, activity_dof "
                             f"{self.activity_dof!r})")
        if self.activity_dof is not None:
            object.__setattr__(self, "activity_dof", positive("activity_dof", self.activity_dof))
        if self.activity_form != "quadratic" and np.any(activity != np.diag(np.diag(activity))):
            raise ValueError(f"activity_form {self.activity_form!r} charges each neuron on its own rate: "
                             "activity_cost must be "
                             "diagonal")
        if self.decoder_norm is not None:
            if not self.learn_decoder:
                raise ValueError("decoder_norm applies to a learned decoder only (learn_decoder=True)")
            positive("decoder_norm", self.decoder_norm)
            object.__setattr__(self, "decoder_norm", float(self.decoder_norm))
        for name, value in (("decoder", decoder), ("decoding_precision", precision),
                            ("activity_cost", activity), ("contrast_nodes", nodes), ("contrast_weights", weights),
                            ("hidden_activity_cost", hidden_cost)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "has_hidden_activity_cost", bool(hidden_cost))

    @property
    def charged_activity_cost(self) -> np.ndarray:
        """The activity-cost matrix the representation neurons pay: Q, or diag(Q) under ``"local"``."""
        if self.charge != "local":
            return self.activity_cost
        # NumPy for a validated objective; jax.numpy inside a compiled function, where the
        # objective's arrays are traced arguments (see the pytree registration below).
        xp = np if isinstance(self.activity_cost, np.ndarray) else jnp
        return xp.diag(xp.diag(self.activity_cost))

    def initial_parameters(self) -> dict:
        """The objective's own trainable parameters at their initial values (decoder, log precision)."""
        params = {}
        if self.learn_decoder:
            params["decoder"] = jnp.asarray(self.decoder)
        if self.learn_precision:
            log_precision = np.log(self.decoding_precision)
            if self.precision_shape == "isotropic":
                log_precision = np.full(1, np.log(np.mean(self.decoding_precision)))
            params["log_decoding_precision"] = jnp.asarray(log_precision)
        return params

    def decoder_of(self, params):
        """The decoder A in use, (D, K): learned (``params["decoder"]``, its columns rescaled to
        ``decoder_norm`` when that is set) or fixed."""
        if not self.learn_decoder:
            return jnp.asarray(self.decoder)
        decoder = params["decoder"]
        if self.decoder_norm is None:
            return decoder
        return self.decoder_norm * decoder / jnp.linalg.norm(decoder, axis=0, keepdims=True)

    def activity(self, responses):
        """The representation neurons' metabolic cost, averaged over all leading axes of
        ``responses`` (..., K)."""
        return jnp.mean(self.activity_per_response(responses))

    def activity_per_response(self, responses):
        """The metabolic cost of each response (..., K) -> (...): 1/2 r^T Q r (Q as
        charged), sum_k Q_kk |r_k|, or sum_k (nu + 1)/2 log(1 + Q_kk r_k^2 / nu)."""
        cost = jnp.asarray(self.charged_activity_cost)
        if self.activity_form == "absolute":
            return jnp.abs(responses) @ jnp.diag(cost)
        if self.activity_form == "student-t":
            dof = self.activity_dof
            return 0.5 * (dof + 1.0) * jnp.sum(jnp.log1p(responses**2 * jnp.diag(cost) / dof), axis=-1)
        return 0.5 * jnp.einsum("...i,ij,...j->...", responses, cost, responses)

    def precision_of(self, params):
        """The decoding precision P in use, (D,): learned or fixed."""
        if not self.learn_precision:
            return jnp.asarray(self.decoding_precision)
        return jnp.broadcast_to(jnp.exp(params["log_decoding_precision"]), self.decoder.shape[:1])

    @classmethod
    def for_linear_gaussian(cls, A, noise_std, prior_cov, reliability, **kwargs) -> Objective:
        """The objective whose log-cost version is the negative ELBO of z ~ N(0, C), x = A z + noise."""
        return cls(decoder=A, decoding_precision=1.0 / np.asarray(noise_std, dtype=float) ** 2,
                   activity_cost=np.linalg.inv(prior_cov), reliability=reliability, **kwargs)


# An Objective is a JAX pytree (``circuits._pytree``): compiled functions take its arrays,
# its reliability cost's strength and the hidden activity cost as arguments, so one
# compilation serves every task, cost strength and seed of the same shapes. Whether the
# hidden cost is positive is static: the closed-form optimum branches on it.
register_frozen_dataclass(
    Objective,
    leaves=("decoder", "decoding_precision", "activity_cost", "contrast_nodes", "contrast_weights", "reliability",
            "hidden_activity_cost", "activity_dof"),
    static=("learn_decoder", "charge", "learn_precision", "precision_shape", "activity_form", "decoder_norm",
            "has_hidden_activity_cost"))


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings.

    steps : optimiser steps. batch_size : inputs per step. noise_samples : responses
    (trials) per input per step. learning_rate -> final_learning_rate : Adam step size,
    decayed exponentially over the run. steps_per_check : steps run inside one compiled
    ``lax.scan`` between divergence checks and progress updates. window_steps,
    burn_in_steps : for recurrent circuits, the Euler steps whose states are the
    responses, and the steps discarded before them (linear circuits start from a
    stationary draw, so they need none). window_start : where a linear recurrent circuit's
    window starts: ``"stationary"`` (a draw from the stationary distribution given the
    input: the objective scores the stationary responses, however slowly the circuit
    reaches them) or ``"spontaneous"`` (a draw from the stationary distribution given a
    blank input, the stimulus coming on at the window's first step: the responses of the
    first window_steps after onset are scored, so a slow sampler pays through its decoding
    error; Hennequin, Aitchison & Lengyel 2014). synapse_draws : noisy synapses drawn
    afresh for every response sample (``"trial"``) or once per optimiser step for the whole
    minibatch (``"minibatch"``, the published protocol of Malkin et al. 2024): the same
    expected objective, a noisier gradient.
    """

    steps: int = 3000
    batch_size: int = 64
    noise_samples: int = 16
    learning_rate: float = 0.02
    final_learning_rate: float = 2e-4
    steps_per_check: int = 100
    window_steps: int = 40
    burn_in_steps: int = 0
    window_start: str = "stationary"
    synapse_draws: str = "trial"

    def __post_init__(self):
        for name in ("steps", "batch_size", "noise_samples", "steps_per_check", "window_steps"):
            count(name, getattr(self, name), 1)
        count("burn_in_steps", self.burn_in_steps, 0)
        if self.window_start not in WINDOW_STARTS:
            raise ValueError(f"window_start must be one of {WINDOW_STARTS}, got {self.window_start!r}")
        if self.synapse_draws not in WEIGHT_DRAWS:
            raise ValueError(f"synapse_draws (--synapse-draws) must be one of {', '.join(WEIGHT_DRAWS)}; "
                             f"got {self.synapse_draws!r}")
        positive("learning_rate", self.learning_rate)
        positive("final_learning_rate", self.final_learning_rate)


def _training_responses(circuit, params, x, key, config: TrainingConfig) -> dict:
    """Responses used in the objective, ``responses`` (n, samples, K) and, for a multi-layer
    circuit, ``hidden`` (n, samples, n_hidden)."""
    if isinstance(circuit, RecurrentCircuit):
        linear = circuit.is_linear
        states = circuit.simulate(params, x, key, config.noise_samples,
                                  config.burn_in_steps + config.window_steps,
                                  initial=config.window_start if linear else "rest",
                                  record_from=config.burn_in_steps, weight_draws=config.synapse_draws)
        return {"responses": states.reshape(x.shape[0], -1, circuit.n_output)}
    return circuit.sample(params, x, key, config.noise_samples, weight_draws=config.synapse_draws)


def _reliability(circuit, params, x, responses, objective: Objective):
    cost = objective.reliability
    if objective.charge in ("neurons", "local"):
        return sum(cost(sd) for sd in circuit.noise_sources(params, x)) / x.shape[0]
    if not circuit.has_correlated_noise:
        return cost(circuit.output_noise_std(params, x)) / x.shape[0]
    if isinstance(circuit, RecurrentCircuit) and not circuit.is_linear:
        # No closed form: the within-input covariance of the simulated window.
        centred = responses - responses.mean(axis=1, keepdims=True)
        cov = jnp.einsum("nsi,nsj->nij", centred, centred) / (responses.shape[1] - 1)
        cov = cov + 1e-6 * jnp.eye(cov.shape[-1])
    else:
        cov = circuit.response_covariance(params, x)
    return jnp.mean(cost.of_covariance(cov))


def gaussian_normaliser(precision):
    """-1/2 sum_d log P_d + D/2 log(2 pi): the part of a Gaussian negative log-likelihood (nats)
    that depends on the precision alone."""
    return -0.5 * jnp.sum(jnp.log(precision)) + 0.5 * precision.shape[-1] * jnp.log(2 * jnp.pi)


def check_supported(circuit, objective: Objective) -> None:
    """Refuse circuit and objective combinations the objective cannot charge (ValueError)."""
    if objective.charge == "local" and isinstance(circuit, RecurrentCircuit) and not circuit.is_linear:
        raise ValueError("charge 'local' supports the linear recurrent circuits only: the supralinear circuit's "
                         "inhibitory rates are not part of the simulated responses, so they could not pay")
    if (objective.charge == "responses" and isinstance(circuit, FeedforwardCircuit)
            and not circuit.has_gaussian_responses):
        raise ValueError("charge 'responses' (--charge) needs Gaussian responses, whose entropy it charges; a "
                         "multi-layer circuit with noisy readout synapses has none (they multiply noisy hidden "
                         "rates): charge each synapse and neuron its own cost with --charge neurons or local")


def decoding_error_per_response(objective: Objective, params, x, responses):
    """-log sum_j w_j exp(-1/2 |x - c_j A r|^2_P) for each response (nats), (n, S) from x
    (n, D) and responses (n, S, K): the decoding error with the contrast prior's nodes c_j and
    weights w_j (one node c = 1 by default), plus the precision's normaliser when P is learned."""
    prediction = responses @ objective.decoder_of(params).T  # (n, S, D)
    precision = objective.precision_of(params)
    nodes = jnp.asarray(objective.contrast_nodes)
    residual = x[:, None, None, :] - prediction[:, :, None, :] * nodes[None, None, :, None]  # (n, S, J, D)
    squared = 0.5 * jnp.sum(precision * residual**2, axis=-1)
    log_weights = jnp.log(jnp.asarray(objective.contrast_weights))
    decoding = -jax.scipy.special.logsumexp(log_weights - squared, axis=-1)
    if objective.learn_precision:
        decoding = decoding + gaussian_normaliser(precision)
    return decoding


def loss_terms(circuit, params, objective: Objective, x, key, config: TrainingConfig) -> dict:
    """The objective's terms (each averaged over inputs and responses) and their sum ``loss``."""
    sampled = _training_responses(circuit, params, x, key, config)
    responses = sampled["responses"]
    decoding = jnp.mean(decoding_error_per_response(objective, params, x, responses))
    activity = objective.activity(responses)
    if objective.charge == "local" and "hidden" in sampled:
        activity = activity + 0.5 * objective.hidden_activity_cost * jnp.mean(jnp.sum(sampled["hidden"] ** 2, -1))
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


def decaying_adam(config):
    """Adam with the step size decayed exponentially from ``config.learning_rate`` to
    ``config.final_learning_rate`` over ``config.steps`` (any config with those fields)."""
    schedule = optax.exponential_decay(config.learning_rate, transition_steps=config.steps,
                                       decay_rate=config.final_learning_rate / config.learning_rate)
    return optax.adam(schedule)


@partial(jax.jit, static_argnums=(0, 1))
def _run_chunk(circuit, config: TrainingConfig, objective: Objective, data, carry, keys):
    """``len(keys)`` optimiser steps in one compiled ``lax.scan``.

    The circuit and config are static (hashable, frozen), the objective's arrays and the
    data are arguments, not constants: one compilation then serves every seed and task of
    the same shapes, instead of one per training run.
    """
    optimizer = decaying_adam(config)

    def total(p, x, k):
        terms = loss_terms(circuit, p, objective, x, k, config)
        return terms["loss"], terms

    def step(carry, step_key):
        p, opt_state = carry
        key_batch, key_noise = jax.random.split(step_key)
        x = data[jax.random.randint(key_batch, (config.batch_size,), 0, data.shape[0])]
        (_, terms), grads = jax.value_and_grad(total, has_aux=True)(p, x, key_noise)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), terms

    return jax.lax.scan(step, carry, keys)


def train(circuit, objective: Objective, data, key, config: TrainingConfig = TrainingConfig(),
          params: dict | None = None, progress: bool = True, track: tuple[str, ...] = ()):
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
    track : names of parameters to record after every ``config.steps_per_check`` steps
        (those the circuit has; e.g. ``("log_noise_std", "hidden_log_noise_std")``).

    Returns
    -------
    params : trained parameters (dict of arrays).
    history : xarray.Dataset of the loss terms per step (dim ``step``) and each tracked
        parameter as ``trace_<name>`` (dims ``check`` and the parameter's own; coordinate
        ``check_step``, the step after which it was recorded).

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
    linear_recurrent = isinstance(circuit, RecurrentCircuit) and circuit.is_linear
    if linear_recurrent:
        circuit.check_stable(params)  # ValueError naming the spectral radius
    check_supported(circuit, objective)
    for name, value in objective.initial_parameters().items():
        params.setdefault(name, value)
    # Strongly typed float parameters: a weakly typed initial value (jnp.full of a Python
    # float) changes type after the first update, and each change would recompile the chunk.
    params = {name: jnp.asarray(value, dtype=jnp.result_type(float)) for name, value in params.items()}
    data_j = jnp.asarray(data)
    carry = (params, decaying_adam(config).init(params))
    history = {name: [] for name in ("loss", "decoding_error", "activity_cost", "reliability_cost")}
    track = [name for name in track if name in params]
    traces, check_steps = {name: [] for name in track}, []
    done = 0
    with tqdm(total=config.steps, disable=not progress, unit="step", desc=f"training {type(circuit).__name__}") as bar:
        while done < config.steps:
            n = min(config.steps_per_check, config.steps - done)
            key_loop, key_chunk = jax.random.split(key_loop)
            previous_params = carry[0]
            carry, terms = _run_chunk(circuit, config, objective, data_j, carry, jax.random.split(key_chunk, n))
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
            for name in track:
                traces[name].append(np.asarray(carry[0][name], dtype=float))
            check_steps.append(done)
            bar.update(n)
            bar.set_postfix(loss=f"{losses[-1]:.4g}")
    params = jax.tree_util.tree_map(np.asarray, carry[0])
    history = _history_dataset({k: np.concatenate(v) for k, v in history.items()})
    for name in track:
        values = np.stack(traces[name])
        dims = ("check",) + tuple(f"{name}_axis{axis}" for axis in range(values.ndim - 1))
        history[f"trace_{name}"] = xr.Variable(dims, values, {"units": "1", "description": f"{name} during training"})
    if track:
        history.coords["check_step"] = xr.Variable("check", np.asarray(check_steps),
                                                   {"units": "1", "description": "optimiser step of the record"})
    return params, history
