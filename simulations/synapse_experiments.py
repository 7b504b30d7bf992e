"""Networks of stochastic synapses trained under a per-synapse reliability cost
(``sampling-circuits run synapses``; ``circuits.synapses``), after Malkin, O'Donnell, Houghton
& Aitchison (2024).

Tasks:

``regression``
    A linear model, y = w . x + noise, with a quadratic loss, 1/2 (y - w . x)^2 averaged over
    examples. Input i has sd s_i, log-uniform over two decades, so its synapse's Hessian
    H_i = mean of x_i^2 over the training set spans four: the diagonal Hessian is exact and
    constant, so every synapse's optimum is known in closed form,
    sigma_i^(2 + rho) = rho c / H_i (``circuits.synapses.optimal_weight_variance``).
``digits``
    scikit-learn's bundled 8 x 8 digits (1797 images, offline), classified by a
    64-100-100-10 rectified network with the cross-entropy loss; 20% held out, stratified.
``mnist``
    The 28 x 28 MNIST digits from the four IDX files in ``data_dir`` (gzipped or not), a
    784-100-100-10 network; the 10 000 test images held out.

Pixels are scaled to [0, 1] and standardised by the mean and sd of all training pixels, as
the published protocol normalises MNIST, so a blank pixel is negative, not 0: every input
synapse then has a gradient. On the classification tasks the sds are bounded by
``max_weight_std`` (default ``MAX_WEIGHT_STD``): a synapse from a hidden unit that never
fires is ignored by the loss, and a power cost alone would send its sd to infinity.

The file holds per layer l the weight means and sds (post, pre), the importance (mean
squared gradient of the data loss in the weight means over extra noisy epochs with no
updates: the published measure, which needs no Hessian), the step size Adam would give each
synapse at that importance at the end of training (the implied learning rate,
final_learning_rate / sqrt(importance); Aitchison et al. 2021),
the RMS presynaptic rate, and for the output layer the diagonal Hessian of the expected loss
under the weight noise (exact for the regression, Monte Carlo for a classifier), with the sd
each synapse would have at a stationary point given it (by Stein's lemma, exact at the
optimum: ``_output_layer_hessian``). For each of these,
the fitted log-log slope of sigma^2 on it with a 95% bootstrap interval over postsynaptic
neurons. Also the held-out loss (and accuracy) under weight noise and at the mean weights.
"""

from __future__ import annotations

import gzip
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from scipy.stats import spearmanr

from analysis.synapse_data import loglog_slope
from circuits._validation import count, positive
from circuits.reliability import LogCost, PowerLawCost
from circuits.synapses import (
    NOISE_KINDS,
    SAMPLING,
    SynapseTraining,
    SynapticNetwork,
    SynapticObjective,
    optimal_weight_variance,
    train_synapses,
)
from simulations.results import new_dataset, scalar, variable

__all__ = ["run_synapses", "TASKS", "SYNAPSE_COSTS", "regression_task", "digits_task", "mnist_task", "read_idx",
           "MNIST_FILES"]

TASKS = ("regression", "digits", "mnist")
SYNAPSE_COSTS = ("power", "log")
#: Training of the regression task. At the default 4000 steps of batch 128 the sds of the
#: least and most important synapses were still 40-50% from their optima (rho = 2 and 1/2,
#: c = 1e-3); with these, within 1% (2026-12-06).
REGRESSION_TRAINING = SynapseTraining(steps=10_000, batch_size=512, learning_rate=0.03)
#: Training of the classifiers. The log sds take steps 30 times the means': at the means'
#: step size the sds of 8000 steps all stopped near one value, set by how far Adam could move
#: them, whatever c was (measured on digits, 2026-12-06).
CLASSIFICATION_TRAINING = SynapseTraining(steps=8000, batch_size=128, learning_rate=0.01, std_learning_rate=0.3)
HIDDEN_LAYERS = (100, 100)
#: Upper bound on a classifier's synapse sds (weight units; the weight means start with sd
#: 1/sqrt(pre), 0.036 to 0.125): an sd of 1 on every synapse leaves the digits network at chance.
MAX_WEIGHT_STD = 1.0
#: Draws of every weight over which a classifier's output-layer Hessian is averaged.
HESSIAN_DRAWS = 20
#: Every sd's value at the start of training (weight units).
INITIAL_WEIGHT_STD = 0.01
#: The IDX files of MNIST (LeCun et al. 1998), each also accepted gzipped (``.gz``).
MNIST_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
               "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def regression_task(rng: np.random.Generator, n_input: int, n_examples: int, scale_range=(0.1, 10.0),
                    noise_std: float = 1.0):
    """(x (n, D), y (n, 1), input sds (D,)): inputs N(0, s_i^2) with s_i log-uniform in
    ``scale_range``, true weights N(0, 1), target noise sd ``noise_std``."""
    scales = np.exp(rng.uniform(np.log(scale_range[0]), np.log(scale_range[1]), n_input))
    weights = rng.normal(size=n_input)
    x = rng.normal(size=(n_examples, n_input)) * scales
    y = x @ weights + noise_std * rng.normal(size=n_examples)
    return x, y[:, None], scales


def _standardise(train_pixels, test_pixels):
    """Pixels in [0, 1], shifted and scaled by the mean and sd of every training pixel."""
    mean, sd = train_pixels.mean(), train_pixels.std()
    return (train_pixels - mean) / sd, (test_pixels - mean) / sd


def digits_task(seed: int, test_fraction: float = 0.2):
    """scikit-learn's 8 x 8 digits (bundled, offline), split stratified by class with ``seed``:
    (train x (n, 64), train labels, test x, test labels)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    pixels, labels = load_digits(return_X_y=True)
    train_x, test_x, train_y, test_y = train_test_split(pixels / 16.0, labels, test_size=test_fraction,
                                                        random_state=seed, stratify=labels)
    train_x, test_x = _standardise(train_x, test_x)
    return train_x, train_y.astype(np.int32), test_x, test_y.astype(np.int32)


def read_idx(path) -> np.ndarray:
    """An IDX array (LeCun's format: two zero bytes, a type code, the number of dimensions,
    big-endian uint32 sizes, then the data), gzipped if the name ends in ``.gz``. Raises
    ValueError on a file that is not IDX or is cut short."""
    path = Path(path)
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as file:
        raw = file.read()
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (it must start with 0, 0, a type code, the number of dims)")
    n_dims = raw[3]
    shape = tuple(int(size) for size in np.frombuffer(raw, ">u4", n_dims, offset=4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    data = np.frombuffer(raw, dtype, offset=4 + 4 * n_dims)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: the header says {shape} but the file holds {data.size} values")
    return data.reshape(shape)


def mnist_task(data_dir):
    """MNIST from the IDX files (``MNIST_FILES``, plain or gzipped) in ``data_dir``:
    (train x (60000, 784), train labels, test x, test labels). Raises ValueError naming the
    missing files."""
    folder = Path(data_dir) if data_dir is not None else None
    found, missing = {}, []
    for part, name in MNIST_FILES.items():
        candidates = [] if folder is None else [folder / name, folder / f"{name}.gz"]
        path = next((candidate for candidate in candidates if candidate.is_file()), None)
        found[part] = path
        if path is None:
            missing.append(name)
    if folder is None:
        raise ValueError("--task mnist needs --data-dir, a folder with the four MNIST IDX files "
                         f"({', '.join(MNIST_FILES.values())}, plain or .gz)")
    if missing:
        raise ValueError(f"data_dir (--data-dir) {str(folder)!r} lacks the MNIST IDX file(s) "
                         f"{', '.join(missing)} (plain or .gz)")
    arrays = {part: read_idx(path) for part, path in found.items()}
    train_x = arrays["train_images"].reshape(len(arrays["train_images"]), -1) / 255.0
    test_x = arrays["test_images"].reshape(len(arrays["test_images"]), -1) / 255.0
    if train_x.shape[1] != test_x.shape[1] or len(train_x) != len(arrays["train_labels"]) \
            or len(test_x) != len(arrays["test_labels"]):
        raise ValueError(f"the MNIST files in {str(folder)!r} do not match: images "
                         f"{arrays['train_images'].shape} / {arrays['test_images'].shape}, labels "
                         f"{arrays['train_labels'].shape} / {arrays['test_labels'].shape}")
    train_x, test_x = _standardise(train_x, test_x)
    return (train_x, arrays["train_labels"].astype(np.int32), test_x, arrays["test_labels"].astype(np.int32))


def _cost(cost: str, cost_strength: float, cost_exponent: float | None, loss_text: str):
    """The per-synapse cost: c sigma^-rho as ``PowerLawCost(rho, 1, rho c)``, or -c log sigma."""
    positive("cost_strength (--cost-strength)", cost_strength)
    if cost == "power":
        if cost_exponent is None:
            raise ValueError("cost_exponent (--cost-exponent) is needed with --cost power: rho > 0")
        positive("cost_exponent (--cost-exponent)", cost_exponent)
        return PowerLawCost(cost_exponent, 1.0, cost_exponent * cost_strength), (
            f"mean over examples of {loss_text} under w ~ N(mu, sigma^2), plus sum over synapses of "
            f"c sigma^-rho, c = {cost_strength:g}, rho = {cost_exponent:g}")
    if cost == "log":
        if cost_exponent is not None:
            raise ValueError("cost_exponent (--cost-exponent) applies to --cost power only")
        return LogCost(cost_strength), (f"mean over examples of {loss_text} under w ~ N(mu, sigma^2), plus "
                                        f"sum over synapses of -c log sigma, c = {cost_strength:g}")
    raise ValueError(f"cost (--cost) must be one of {', '.join(SYNAPSE_COSTS)}; got {cost!r}")


@partial(jax.jit, static_argnums=0)
def _data_loss_gradient(network, objective, params, x, target, key):
    return jax.grad(lambda p: objective.terms(network, p, x, target, key)["data_loss"])(params)


def _importance(network, objective, params, x, target, key, batch_size: int, epochs: int) -> list:
    """Mean squared gradient of the data loss in each weight mean, over ``epochs`` passes of
    minibatches with fresh weight noise and no updates."""
    n_batches = max(1, x.shape[0] // batch_size)
    total = [jnp.zeros_like(params[f"weight_mean_{layer}"]) for layer in range(network.n_layers)]
    for epoch_key in jax.random.split(key, epochs):
        order_key, noise_key = jax.random.split(epoch_key)
        order = jax.random.permutation(order_key, x.shape[0])
        for batch, batch_key in enumerate(jax.random.split(noise_key, n_batches)):
            rows = order[batch * batch_size:(batch + 1) * batch_size]
            grads = _data_loss_gradient(network, objective, params, x[rows], target[rows], batch_key)
            total = [t + grads[f"weight_mean_{layer}"] ** 2 for layer, t in enumerate(total)]
    return [np.asarray(t, dtype=float) / (epochs * n_batches) for t in total]


def _output_layer_hessian(loss: str, network, params, x, key, n_draws: int) -> np.ndarray:
    """Diagonal Hessian of the expected data loss (over the weight noise) in the output layer's
    weight means, (outputs, pre): E[a_k^2] (squared loss) or E[p_j (1 - p_j) a_k^2] (softmax
    cross-entropy), a the layer's noisy input and p the class probabilities under the noisy
    weights, averaged over the training examples and ``n_draws`` draws of every weight.

    With w = mu + sigma eps, d^2/dmu^2 E[L] = E[d^2 L / dw^2], and by Stein's lemma
    d/dsigma E[L] = sigma E[d^2 L / dw^2]: at the optimum every synapse has exactly
    sigma^(2 + rho) = rho c / H with this H, no quadratic approximation needed (a linear
    model's H is the same in every draw; a classifier's is a Monte Carlo estimate)."""
    total = 0.0
    for draw_key in jax.random.split(key, n_draws):
        layers = network.sample_layers(params, jnp.asarray(x), draw_key)
        activity = np.asarray(layers[-2], dtype=float)
        if loss == "squared":
            curvature = np.ones((len(activity), network.layer_sizes[-1]))
        else:
            probability = np.asarray(jax.nn.softmax(layers[-1], axis=-1), dtype=float)
            curvature = probability * (1 - probability)
        total = total + curvature.T @ activity**2 / len(activity)
    return total / n_draws


def _accuracy(output, labels) -> float:
    return float(np.mean(np.argmax(np.asarray(output), axis=-1) == np.asarray(labels)))


def _validate(seed, task, noise, per, max_weight_std) -> None:
    count("seed", seed, 0)
    if task not in TASKS:
        raise ValueError(f"task (--task) must be one of {', '.join(TASKS)}; got {task!r}")
    if noise not in NOISE_KINDS:
        raise ValueError(f"noise (--noise) must be one of {', '.join(NOISE_KINDS)}; got {noise!r}")
    if per not in SAMPLING:
        raise ValueError(f"per (--sample-per) must be one of {', '.join(SAMPLING)}; got {per!r}")
    if max_weight_std is not None:
        positive("max_weight_std (--max-weight-std)", max_weight_std)


def run_synapses(seed: int, task: str = "regression", cost: str = "power", cost_strength: float = 1e-3,
                 cost_exponent: float | None = None, noise: str = "per-synapse", per: str = "example",
                 n_input: int = 40, n_train: int = 20_000, n_test: int = 5_000, steps: int | None = None,
                 importance_epochs: int = 3, data_dir=None, max_weight_std: float | None = None,
                 progress: bool = True) -> xr.Dataset:
    """Train a network of stochastic synapses (module docstring) and measure its synapses.

    Parameters
    ----------
    task : one of ``TASKS``.
    cost, cost_strength, cost_exponent : ``"power"``, c sigma^-rho per synapse with c > 0 and
        rho > 0, or ``"log"``, -c log sigma. c is in units of the mean loss per example (nats
        for the classifiers).
    noise : ``"per-synapse"`` or ``"uniform"`` (one sd for the network).
    per : weights drawn per ``"example"`` or per ``"minibatch"``.
    n_input, n_train, n_test : regression inputs (synapses) and examples (regression only).
    steps : training steps (default ``REGRESSION_TRAINING``'s or ``CLASSIFICATION_TRAINING``'s).
    importance_epochs : noisy epochs, without updates, over which the importance is averaged.
    data_dir : folder with the MNIST IDX files (``task="mnist"``).
    max_weight_std : bound on every sd (weight units); default none for the regression,
        ``MAX_WEIGHT_STD`` for the classifiers.
    """
    started = time.perf_counter()
    _validate(seed, task, noise, per, max_weight_std)
    classifier = task != "regression"
    loss = "cross-entropy" if classifier else "squared"
    reliability, objective_text = _cost(cost, cost_strength, cost_exponent,
                                        "the cross-entropy (nats)" if classifier else "1/2 (y - w . x)^2")
    count("importance_epochs", importance_epochs, 1)
    defaults = CLASSIFICATION_TRAINING if classifier else REGRESSION_TRAINING
    training = defaults if steps is None else SynapseTraining(
        steps=count("steps", steps, 1), batch_size=defaults.batch_size, learning_rate=defaults.learning_rate,
        std_learning_rate=defaults.std_learning_rate)
    if classifier and max_weight_std is None:
        max_weight_std = MAX_WEIGHT_STD

    scales = None
    if task == "regression":
        count("n_input", n_input, 2)
        count("n_train", n_train, 2)
        count("n_test", n_test, 1)
        x, y, scales = regression_task(np.random.default_rng(seed), n_input, n_train + n_test)
        train_x, train_y, test_x, test_y = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
        sizes = (n_input, 1)
    else:
        train_x, train_y, test_x, test_y = digits_task(seed) if task == "digits" else mnist_task(data_dir)
        sizes = (train_x.shape[1], *HIDDEN_LAYERS, 10)
    network = SynapticNetwork(sizes, noise=noise, max_weight_std=max_weight_std)
    objective = SynapticObjective(loss, reliability, per)
    key_train, key_importance, key_test, key_hessian = jax.random.split(jax.random.PRNGKey(seed), 4)
    params, history = train_synapses(network, objective, train_x, train_y, key_train, training,
                                     noise_std=INITIAL_WEIGHT_STD if classifier else 0.05, progress=progress)

    unit_names = ["input", *[f"hidden_{i}" for i in range(1, network.n_layers)], "output"]
    weight_std = [np.asarray(std, dtype=float) for std in network.weight_std(params)]
    importance = _importance(network, objective, params, jnp.asarray(train_x), jnp.asarray(train_y), key_importance,
                             training.batch_size, importance_epochs)
    # Each layer's input at the mean weights: the pixels, then the rectified hidden units.
    rates = [np.sqrt(np.mean(np.asarray(activity, dtype=float) ** 2, axis=0))
             for activity in network.mean_layers(params, jnp.asarray(train_x))[:-1]]
    last = network.n_layers - 1
    hessian = {last: _output_layer_hessian(loss, network, params, train_x, key_hessian,
                                           HESSIAN_DRAWS if classifier else 1)}
    dims = [(unit_names[layer + 1], unit_names[layer]) for layer in range(network.n_layers)]
    data_vars, stationary_interior = _optimality(network, reliability, hessian[last], weight_std[last], dims[last],
                                                 classifier)
    slope_rng = np.random.default_rng([seed, 1])
    for layer in range(network.n_layers):
        data_vars.update(_layer_variables(layer, dims[layer], network, params, weight_std[layer], importance[layer],
                                          rates[layer], hessian.get(layer), stationary_interior, training,
                                          importance_epochs, slope_rng))
    if task == "regression":
        data_vars["input_scale"] = variable("input", scales, "1", "sd each input was drawn with")

    test_x, test_y = jnp.asarray(test_x), jnp.asarray(test_y)
    test_terms = objective.terms(network, params, test_x, test_y, key_test)
    data_vars["test_loss"] = scalar(float(test_terms["data_loss"]), "nat" if classifier else "1",
                                    "held-out data loss under weight noise")
    data_vars["test_loss_at_mean"] = scalar(float(objective.data_loss_at_mean(network, params, test_x, test_y)),
                                            "nat" if classifier else "1",
                                            "held-out data loss with every weight at its mean")
    if classifier:
        data_vars["test_accuracy"] = scalar(_accuracy(network.sample_output(params, test_x, key_test), test_y), "1",
                                            "held-out fraction correct, weights drawn afresh for every image")
        data_vars["test_accuracy_at_mean"] = scalar(_accuracy(network.mean_output(params, test_x), test_y), "1",
                                                    "held-out fraction correct with every weight at its mean")
        every_std = np.concatenate([std.ravel() for std in weight_std])
        data_vars["rms_weight_std"] = scalar(float(np.sqrt(np.mean(every_std**2))), "1",
                                             "RMS of the sds over every synapse")
    data_vars.update({name: variable("step", values, "1", f"{name.replace('_', ' ')} per training step")
                      for name, values in history.items()})
    coords = {name: variable(name, np.arange(size), "1", f"{name.replace('_', ' ')} unit")
              for name, size in zip(unit_names, network.layer_sizes, strict=True)}
    coords["step"] = variable("step", np.arange(1, training.steps + 1), "1", "optimiser step")
    config = {"experiment": "synapses", "seed": seed, "task": task, "cost": cost, "cost_strength": cost_strength,
              "cost_exponent": cost_exponent, "noise": noise, "per": per, "layer_sizes": list(network.layer_sizes),
              "n_train": int(len(train_x)), "n_test": int(len(test_x)), "steps": training.steps,
              "batch_size": training.batch_size, "learning_rate": training.learning_rate,
              "std_learning_rate": training.std_learning_rate, "max_weight_std": max_weight_std,
              "importance_epochs": importance_epochs, "objective": objective_text, "noise_site": "synapses",
              "data_dir": None if data_dir is None else str(data_dir)}
    if task == "regression":
        config["n_input"] = n_input
    ds = new_dataset(data_vars, coords, config, "synapses")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds


def _optimality(network, reliability, hessian, weight_std, dims, classifier) -> dict:
    """The output layer's sds against the stationary point their Hessian sets (see
    ``_output_layer_hessian``): per synapse, and how far the trained sds are from it."""
    last = network.n_layers - 1
    with np.errstate(divide="ignore"):
        if network.noise == "per-synapse":
            optimal_variance = optimal_weight_variance(hessian, reliability)
        else:  # one sd: 1/2 sigma^2 sum H + N cost(sigma), the per-synapse optimum at the mean Hessian
            optimal_variance = np.full(weight_std.shape, optimal_weight_variance(hessian.mean(), reliability))
    if network.max_weight_std is not None:  # the bound binds where the free optimum lies beyond it
        optimal_variance = np.minimum(optimal_variance, network.max_weight_std**2)
    what = "a Monte Carlo Hessian of the expected loss" if classifier else "the exact Hessian"
    out = {f"optimal_weight_std_{last}": variable(
        dims, np.sqrt(optimal_variance), "1", f"the sd at which the synapse's share of the objective is stationary "
        f"given {what} (sigma^(2 + rho) = rho c / H, capped at max_weight_std)")}
    # Synapses whose stationary sd lies below the bound: chosen by their Hessian, not by their
    # trained sd, so a fit over them is not censored.
    interior = np.ones(weight_std.shape, bool) if network.max_weight_std is None else (
        optimal_variance < (0.9 * network.max_weight_std) ** 2)
    ratio = (weight_std**2 / optimal_variance)[interior]
    out[f"n_interior_{last}"] = scalar(int(interior.sum()), "1", "synapses whose stationary sd is below 0.9 "
                                       "max_weight_std (all without a bound)")
    out[f"optimality_ratio_median_{last}"] = scalar(float(np.median(ratio)) if ratio.size else np.nan, "1",
                                                    "median over those synapses of sigma^2 / its stationary value")
    out[f"optimality_within_factor_2_{last}"] = scalar(float(np.mean((ratio > 0.5) & (ratio < 2)))
                                                       if ratio.size else np.nan, "1",
                                                       "fraction of those synapses with sigma^2 within a factor 2 of "
                                                       "its stationary value")
    return out, interior


def _layer_variables(layer, dims, network, params, weight_std, importance, rate, hessian, stationary_interior,
                     training, importance_epochs, slope_rng) -> dict:
    """One layer's synapse measures and, for per-synapse noise, the slopes of log sigma^2 on them.
    The slope on the Hessian is fitted over the synapses whose stationary sd is below the bound
    (``stationary_interior``), the others over those whose trained sd is."""
    learning_rate = training.final_learning_rate / np.sqrt(np.where(importance > 0, importance, np.nan))
    presynaptic_rate = np.broadcast_to(rate, weight_std.shape)
    out = {
        f"weight_mean_{layer}": variable(dims, np.asarray(params[f"weight_mean_{layer}"], dtype=float), "1",
                                         "mean of each synaptic weight"),
        f"weight_std_{layer}": variable(dims, weight_std, "1", "sd of each synaptic weight"),
        f"importance_{layer}": variable(dims, importance, "1",
                                        f"mean squared gradient of the data loss in the weight mean over "
                                        f"{importance_epochs} noisy epochs without updates"),
        f"implied_learning_rate_{layer}": variable(
            dims, learning_rate, "1", "Adam's step size for the synapse at the end of training, "
            "final_learning_rate / sqrt(importance) (NaN where the importance is 0)"),
        f"presynaptic_rate_{layer}": variable(dims[1], rate, "1",
                                              "RMS of the presynaptic activity over the training set, mean weights"),
    }
    against = {"importance": importance, "implied_learning_rate": learning_rate, "presynaptic_rate": presynaptic_rate}
    if network.max_weight_std is not None:
        out[f"fraction_near_bound_{layer}"] = scalar(float(np.mean(weight_std > 0.9 * network.max_weight_std)), "1",
                                                     "fraction of the sds above 0.9 max_weight_std")
    if hessian is not None:
        out[f"hessian_diag_{layer}"] = variable(dims, hessian, "1", "diagonal Hessian of the expected data loss "
                                                "(over the weight noise) in the weight means")
        against = {"hessian": hessian, **against}
    if network.noise != "per-synapse":
        return out
    # A synapse near the bound is censored (its optimum lies beyond the bound, if anywhere):
    # it is left out of the fits, as is a synapse of importance 0 (from a silent unit).
    bounded = network.max_weight_std is not None
    trained_interior = weight_std < 0.9 * network.max_weight_std if bounded else np.ones(weight_std.shape, bool)
    for name, values in against.items():
        chosen = stationary_interior if name == "hessian" else trained_interior
        where = "" if not bounded else (" whose stationary sd is below 0.9 max_weight_std" if name == "hessian"
                                        else " below 0.9 max_weight_std")
        values, variance = np.nan_to_num(values), np.where(chosen, weight_std**2, 0.0)
        kept = (values > 0) & (variance > 0)
        n_points = int(kept.sum())
        # Resample postsynaptic neurons, whose synapses share a fate; a single one (the
        # regression) has independent synapses, which are resampled instead.
        fit = (loglog_slope(values, variance, slope_rng, by_row=weight_std.shape[0] > 1) if n_points >= 3
               else dict(slope=np.nan, low=np.nan, high=np.nan))
        label = f"slope_variance_on_{name}_{layer}"
        out[label] = scalar(fit["slope"], "1", f"least-squares slope of log sigma^2 on log {name.replace('_', ' ')} "
                                               f"over the {n_points} synapses{where} with positive values "
                                               "(NaN with fewer than 3)")
        out[f"{label}_low"] = scalar(fit["low"], "1", "its 95% bootstrap interval, low")
        out[f"{label}_high"] = scalar(fit["high"], "1", "its 95% bootstrap interval, high")
        if name == "importance":
            rank = spearmanr(values[kept], variance[kept]).statistic if n_points >= 3 else np.nan
            out[f"rank_correlation_variance_importance_{layer}"] = scalar(
                float(rank), "1", "Spearman correlation of sigma^2 and importance over the same synapses")
    return out
