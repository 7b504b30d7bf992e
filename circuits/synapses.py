"""Stochastic synapses that pay for their own reliability (Malkin, O'Donnell, Houghton &
Aitchison 2024, "Signatures of Bayesian inference emerge from energy-efficient synapses").

Every weight is random, w_ij ~ N(mu_ij, sigma_ij^2), drawn afresh for every example
(``per="example"``) or once for a whole minibatch (``per="minibatch"``, the published
protocol). Each synapse pays a reliability cost of its own noise sd: a power law
c sigma_ij^-rho (``PowerLawCost(rho, 1, rho c)``, whose strength is rho c) or the log cost.
The objective is

    E_w[ mean over examples of the loss ] + sum over synapses of cost(sigma_ij),

so for a quadratic loss with diagonal Hessian H_ij in the weight means, where the expected
loss is the loss at the mean plus 1/2 sum H_ij sigma_ij^2, each synapse's optimum is
sigma_ij^(2 + rho) = rho c / H_ij: important synapses (large H) are precise
(``optimal_weight_variance``). With ``noise="uniform"`` one sd is shared by every synapse of
the network (the published control) and its optimum is sigma^(2 + rho) = rho c N / sum H, N
synapses.

Per-example weights are sampled by the local reparameterisation (Kingma, Salimans & Welling
2015): a layer's pre-activation sum_i w_ji x_i given x is exactly Gaussian with mean
sum_i mu_ji x_i and variance sum_i sigma_ji^2 x_i^2, independent across examples, so it is
drawn directly instead of drawing a weight matrix per example.

Units: weights and their sds in output units per input unit; costs in the objective's units.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from circuits._pytree import register_frozen_dataclass
from circuits._validation import count, positive

__all__ = ["SynapticNetwork", "SynapticObjective", "SynapseTraining", "train_synapses", "optimal_weight_variance",
           "NOISE_KINDS", "LOSSES", "SAMPLING"]

NOISE_KINDS = ("per-synapse", "uniform")
LOSSES = ("squared", "cross-entropy")
SAMPLING = ("example", "minibatch")


@dataclass(frozen=True)
class SynapticNetwork:
    """A feed-forward network of stochastic synapses (hyperparameters only).

    layer_sizes : (inputs, hidden..., outputs), each >= 1. Hidden layers are rectified
        (ReLU), the output layer linear.
    noise : ``"per-synapse"`` (an sd per weight) or ``"uniform"`` (one sd for the network).
    max_weight_std : None (sds unbounded) or an upper bound on every sd, in weight units.
        A power cost falls for ever as sigma grows, so a synapse the loss ignores (from a unit
        that never fires) has no finite optimum; the bound gives it one. The sd is
        1 / (1 / max_weight_std + exp(-log_weight_std)), exp(log_weight_std) far below the
        bound: a reparameterisation, so an optimum below the bound does not move.
    """

    layer_sizes: tuple[int, ...]
    noise: str = "per-synapse"
    max_weight_std: float | None = None

    def __post_init__(self):
        sizes = tuple(self.layer_sizes)
        if len(sizes) < 2:
            raise ValueError(f"layer_sizes needs inputs and outputs (>= 2 entries), got {sizes!r}")
        for i, size in enumerate(sizes):
            count(f"layer_sizes[{i}]", size, 1)
        object.__setattr__(self, "layer_sizes", sizes)
        if self.noise not in NOISE_KINDS:
            raise ValueError(f"noise (--noise) must be one of {', '.join(NOISE_KINDS)}; got {self.noise!r}")
        if self.max_weight_std is not None:
            object.__setattr__(self, "max_weight_std", positive("max_weight_std", self.max_weight_std))

    @property
    def n_layers(self) -> int:
        return len(self.layer_sizes) - 1

    @property
    def n_synapses(self) -> int:
        return sum(pre * post for pre, post in zip(self.layer_sizes[:-1], self.layer_sizes[1:], strict=True))

    def init(self, key, noise_std: float = 0.05) -> dict:
        """Weight means N(0, 1 / pre) (variance-preserving), zero biases, every sd at ``noise_std``
        (below ``max_weight_std`` when that is set).

        Keys: ``weight_mean_<l>`` (post, pre), ``bias_<l>`` (post,), and ``log_weight_std_<l>``
        (post, pre) per layer, or one ``log_weight_std`` () for uniform noise.
        """
        positive("noise_std", noise_std)
        if self.max_weight_std is not None and noise_std >= self.max_weight_std:
            raise ValueError(f"noise_std ({noise_std:g}) must be below max_weight_std ({self.max_weight_std:g})")
        log_std = np.log(noise_std if self.max_weight_std is None else 1 / (1 / noise_std - 1 / self.max_weight_std))
        params = {}
        for layer, (key_layer, pre, post) in enumerate(zip(jax.random.split(key, self.n_layers),
                                                           self.layer_sizes[:-1], self.layer_sizes[1:], strict=True)):
            params[f"weight_mean_{layer}"] = jax.random.normal(key_layer, (post, pre)) / np.sqrt(pre)
            params[f"bias_{layer}"] = jnp.zeros(post)
            if self.noise == "per-synapse":
                params[f"log_weight_std_{layer}"] = jnp.full((post, pre), log_std)
        if self.noise == "uniform":
            params["log_weight_std"] = jnp.asarray(log_std)
        return params

    def weight_std(self, params) -> list:
        """The sd of every synapse, one (post, pre) array per layer."""
        shapes = [(post, pre) for pre, post in zip(self.layer_sizes[:-1], self.layer_sizes[1:], strict=True)]
        if self.noise == "uniform":
            return [jnp.broadcast_to(self._std(params["log_weight_std"]), shape) for shape in shapes]
        return [self._std(params[f"log_weight_std_{layer}"]) for layer in range(self.n_layers)]

    def _std(self, log_std):
        if self.max_weight_std is None:
            return jnp.exp(log_std)
        return 1 / (1 / self.max_weight_std + jnp.exp(-log_std))

    def mean_output(self, params, x):
        """Output of the network with every weight at its mean: (n, outputs)."""
        return self.mean_layers(params, x)[-1]

    def mean_layers(self, params, x) -> list:
        """Every layer's activity with every weight at its mean: [x, hidden..., output]."""
        activity = x
        layers = [x]
        for layer in range(self.n_layers):
            activity = activity @ params[f"weight_mean_{layer}"].T + params[f"bias_{layer}"]
            if layer < self.n_layers - 1:
                activity = jax.nn.relu(activity)
            layers.append(activity)
        return layers

    def sample_output(self, params, x, key, per: str = "example"):
        """Output under sampled weights, (n, outputs): fresh weights for every example
        (local reparameterisation, exact) or one draw for the whole batch."""
        return self.sample_layers(params, x, key, per)[-1]

    def sample_layers(self, params, x, key, per: str = "example") -> list:
        """Every layer's activity under sampled weights: [x, hidden..., output]."""
        if per not in SAMPLING:
            raise ValueError(f"per must be one of {SAMPLING}, got {per!r}")
        stds = self.weight_std(params)
        activity = x
        layers = [x]
        for layer, layer_key in enumerate(jax.random.split(key, self.n_layers)):
            mean, bias = params[f"weight_mean_{layer}"], params[f"bias_{layer}"]
            if per == "example":
                drive_mean = activity @ mean.T
                drive_sd = jnp.sqrt(activity**2 @ (stds[layer] ** 2).T + 1e-12)
                activity = drive_mean + drive_sd * jax.random.normal(layer_key, drive_mean.shape) + bias
            else:
                weights = mean + stds[layer] * jax.random.normal(layer_key, mean.shape)
                activity = activity @ weights.T + bias
            if layer < self.n_layers - 1:
                activity = jax.nn.relu(activity)
            layers.append(activity)
        return layers


def _data_loss(loss: str, output, target):
    """Mean over examples: 1/2 (y - output)^2 summed over outputs, or the cross-entropy of
    integer class labels under softmax(output) (nats)."""
    if loss == "squared":
        return 0.5 * jnp.mean(jnp.sum((target - output) ** 2, axis=-1))
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(output, target))


@dataclass(frozen=True)
class SynapticObjective:
    """Expected data loss under weight noise plus each synapse's reliability cost.

    loss : ``"squared"`` (regression, targets (n, outputs)) or ``"cross-entropy"`` (integer
        class labels (n,)). cost : a ``circuits.reliability`` cost, applied to every synapse's
        sd (a uniform network pays it once per synapse too). per : ``"example"`` or
        ``"minibatch"``, how often weights are drawn.
    """

    loss: str
    cost: object
    per: str = "example"

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.per not in SAMPLING:
            raise ValueError(f"per must be one of {SAMPLING}, got {self.per!r}")

    def terms(self, network: SynapticNetwork, params, x, target, key) -> dict:
        data = _data_loss(self.loss, network.sample_output(params, x, key, self.per), target)
        reliability = sum(self.cost(std) for std in network.weight_std(params))
        return {"loss": data + reliability, "data_loss": data, "reliability_cost": reliability}

    def data_loss_at_mean(self, network: SynapticNetwork, params, x, target):
        return _data_loss(self.loss, network.mean_output(params, x), target)


# The cost is a leaf (its strength traced), so a sweep over c compiles once per exponent.
register_frozen_dataclass(SynapticObjective, leaves=("cost",), static=("loss", "per"))


def optimal_weight_variance(hessian_diag, cost) -> np.ndarray:
    """Per-synapse optimum of 1/2 H sigma^2 + cost(sigma) (a quadratic loss): the cost's
    ``optimal_variance``; for ``PowerLawCost(rho, 1, rho c)`` sigma^2 = (rho c / H)^(2 / (2 + rho))."""
    return cost.optimal_variance(hessian_diag)


@dataclass(frozen=True)
class SynapseTraining:
    """Adam on minibatches drawn with replacement; the step size decays exponentially from
    ``learning_rate`` to ``final_learning_rate`` over ``steps``.

    std_learning_rate : None (the same) or the starting step size of the log sds, which
        decays by the same factor. Adam moves a parameter at most about one step size per
        step, and the optimal sds of a deep network span decades, so they need larger steps
        than the weight means. Their Adam forgets old squared gradients faster (b2 = 0.99,
        not 0.999): a cost gradient falls as sigma^-rho while the sd grows, and a long memory
        of the large early gradients shrinks the later steps (an ignored synapse's sd stopped
        at 3 of a bound of 5 with b2 = 0.999, and reached it with 0.99; measured).
    """

    steps: int = 4000
    batch_size: int = 128
    learning_rate: float = 0.01
    final_learning_rate: float = 1e-4
    steps_per_chunk: int = 100
    std_learning_rate: float | None = None

    def __post_init__(self):
        for name in ("steps", "batch_size", "steps_per_chunk"):
            count(name, getattr(self, name), 1)
        positive("learning_rate", self.learning_rate)
        positive("final_learning_rate", self.final_learning_rate)
        if self.std_learning_rate is not None:
            positive("std_learning_rate", self.std_learning_rate)

    def _adam(self, learning_rate, b2=0.999):
        return optax.adam(optax.exponential_decay(learning_rate, transition_steps=self.steps,
                                                  decay_rate=self.final_learning_rate / self.learning_rate), b2=b2)

    def optimizer(self):
        if self.std_learning_rate is None:
            return self._adam(self.learning_rate)

        def kind(params):
            return {name: "std" if name.startswith("log_weight_std") else "mean" for name in params}

        return optax.multi_transform({"mean": self._adam(self.learning_rate),
                                      "std": self._adam(self.std_learning_rate, b2=0.99)}, kind)


@partial(jax.jit, static_argnums=(0, 2))
def _chunk(network, objective, training, params, opt_state, x, target, keys):
    optimizer = training.optimizer()

    def total(p, x_batch, target_batch, key):
        terms = objective.terms(network, p, x_batch, target_batch, key)
        return terms["loss"], terms

    def step(carry, key):
        p, state = carry
        key_batch, key_noise = jax.random.split(key)
        pick = jax.random.randint(key_batch, (training.batch_size,), 0, x.shape[0])
        (_, terms), grads = jax.value_and_grad(total, has_aux=True)(p, x[pick], target[pick], key_noise)
        updates, state = optimizer.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), terms

    (params, opt_state), terms = jax.lax.scan(step, (params, opt_state), keys)
    return params, opt_state, terms


def train_synapses(network: SynapticNetwork, objective: SynapticObjective, x, target, key,
                   training: SynapseTraining = SynapseTraining(), noise_std: float = 0.05,
                   progress: bool = False) -> tuple[dict, dict]:
    """Train weight means, biases and sds. Returns (params, history): history holds ``loss``,
    ``data_loss`` and ``reliability_cost`` per step (NumPy arrays). Raises ValueError if the
    loss becomes non-finite, naming the step."""
    from tqdm.auto import tqdm

    x = jnp.asarray(x)
    target = jnp.asarray(target)
    key_init, key_train = jax.random.split(key)
    params = network.init(key_init, noise_std)
    opt_state = training.optimizer().init(params)
    history = []
    keys = jax.random.split(key_train, training.steps)
    with tqdm(total=training.steps, desc="training synapses", unit="step", disable=not progress) as bar:
        for first in range(0, training.steps, training.steps_per_chunk):
            chunk_keys = keys[first:first + training.steps_per_chunk]
            params, opt_state, terms = _chunk(network, objective, training, params, opt_state, x, target, chunk_keys)
            terms = {name: np.asarray(value) for name, value in terms.items()}
            if not np.all(np.isfinite(terms["loss"])):
                bad = first + int(np.argmin(np.isfinite(terms["loss"])))
                raise ValueError(f"training diverged: the loss became non-finite at step {bad + 1}")
            history.append(terms)
            bar.update(len(chunk_keys))
    return params, {name: np.concatenate([h[name] for h in history]) for name in history[0]}
