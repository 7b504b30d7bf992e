"""A circuit whose responses are a mixture: a gain unit with a sampled state (JAX).

A Gaussian response distribution cannot represent the posterior of a Gaussian scale
mixture, p(z | x) = integral p(z | x, c) p(c | x) dc, a continuous mixture over the
contrast c (Orban, Berkes, Fiser & Lengyel 2016). This circuit adds one unit whose state
represents the contrast and is itself sampled, and lets it modulate the gain of the others:

    input drives         y = N x                                (K learned filters)
    gain unit            u | x ~ N(a(x), s(x)^2),  c = exp(u)
    noise units          e_k = g_k(u) y_k + sigma_k(u) eps_k,   eps ~ N(0, I)
    representation       r = M e + b

The gain unit pools the input's energy, as a normalisation pool does (Heeger 1992): a(x) and
log s(x) are read out of a one-hidden-layer tanh network of log(1 + y_k^2) and log(1 + |x|^2).
Each noise unit's gain g_k(u) and sd sigma_k(u) are read out of a tanh network of u alone;
M (K x K, learned) mixes the noise units into the representation neurons. Each trial draws
u, then r, so the response distribution q(r | x) = integral q(r | x, u) q(u | x) du is a
continuous mixture of Gaussians. The family holds the GSM's conditional posteriors exactly:
with T the basis in which C^-1 and A^T S^-1 A are diagonal together (T^T C^-1 T = I,
T^T A^T S^-1 A T = diag(lambda); ``analysis.generative``),
p(z | x, c) = N(T diag(c / (1 + c^2 lambda)) w, T diag(1 / (1 + c^2 lambda)) T^T) with
w = T^T A^T S^-1 x, which is this circuit with M = T, N = T^T A^T S^-1,
g_k(u) = c / (1 + c^2 lambda_k) and sigma_k(u) = (1 + c^2 lambda_k)^-1/2.

Objective: the negative ELBO of the joint latent (z, u) of the GSM with c = exp(u),

    L(x) = E_q[ 1/2 |x - c A r|^2_{S^-1} + 1/2 r^T C^-1 r - log p_c(c) - u ]
           - H[q(u | x)] - E_q[ H[q(r | x, u)] ] + const
         = -log p(x) + KL(q(r, u | x) || p(z, u | x)),

which bounds the marginal's KL, KL(q(r | x) || p(z | x)), from above. The entropies are the
log cost at strength 1 on the gain unit's sd and on the response covariance given u (the
``responses`` charge of ``circuits.learning``), so the optimum is the joint posterior as
nearly as the family allows.

The marginal density log q(r | x) is evaluated by a trapezoid rule over u
(``log_response_density``), which the tests check against a finer one and a grid over r.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from circuits._validation import count, positive

__all__ = ["GainCircuit", "GainObjective", "train_gain_circuit"]


@dataclass(frozen=True)
class GainCircuit:
    """Hyperparameters of the gain circuit (module docstring).

    n_input : D. n_output : K, representation neurons (one per latent). width : hidden
    units of each tanh network (gain, response). quadrature_nodes : nodes of the trapezoid rule
    over the gain state in ``log_response_density``.
    """

    n_input: int
    n_output: int
    width: int = 16
    quadrature_nodes: int = 321

    def __post_init__(self):
        count("n_input", self.n_input, 1)
        count("n_output", self.n_output, 1)
        count("width (--encoder-width)", self.width, 1)
        count("quadrature_nodes", self.quadrature_nodes, 2)

    def init(self, key, noise_std: float = 0.5, gain_std: float = 0.5) -> dict:
        """Initial parameters: random filters and hidden weights, zero readouts of the hidden
        units (unit gains g = 1, noise sd ``noise_std``, gain-unit sd ``gain_std``), M = I."""
        positive("noise_std", noise_std)
        positive("gain_std", gain_std)
        keys = jax.random.split(key, 4)
        d, k, h = self.n_input, self.n_output, self.width
        return {
            "filters": jax.random.normal(keys[0], (k, d)) / np.sqrt(d),
            "pool_weights": jax.random.normal(keys[1], (h, k + 1)) / np.sqrt(k + 1),
            "pool_bias": jnp.zeros(h),
            "gain_mean_readout": jnp.zeros(h),
            "gain_mean_bias": jnp.zeros(()),
            "gain_log_std_readout": jnp.zeros(h),
            "gain_log_std_bias": jnp.full((), np.log(gain_std)),
            "modulation_weights": jax.random.normal(keys[2], (h,)),
            "modulation_bias": jax.random.normal(keys[3], (h,)),
            "gain_readout": jnp.zeros((k, h)),
            "gain_bias": jnp.ones(k),
            "log_std_readout": jnp.zeros((k, h)),
            "log_std_bias": jnp.full(k, np.log(noise_std)),
            "mixing": jnp.eye(k),
            "response_bias": jnp.zeros(k),
        }

    # -- the two stages ----------------------------------------------------------------------
    @staticmethod
    def drives(params, x):
        """The noise units' input drives y = N x, (n, K)."""
        return x @ params["filters"].T

    def gain_distribution(self, params, x):
        """Mean a(x) and sd s(x) of the gain unit's state u = log c, each (n,)."""
        energy = jnp.concatenate([jnp.log1p(self.drives(params, x) ** 2), jnp.log1p((x**2).sum(-1, keepdims=True))],
                                 axis=-1)
        hidden = jnp.tanh(energy @ params["pool_weights"].T + params["pool_bias"])
        mean = hidden @ params["gain_mean_readout"] + params["gain_mean_bias"]
        log_std = hidden @ params["gain_log_std_readout"] + params["gain_log_std_bias"]
        return mean, jnp.exp(log_std)

    def conditional(self, params, x, u):
        """The noise units' mean g(u) * y (..., K) and sd sigma(u) (..., K) given the gain state
        u (n, ...); x (n, D)."""
        hidden = jnp.tanh(u[..., None] * params["modulation_weights"] + params["modulation_bias"])
        gain = hidden @ params["gain_readout"].T + params["gain_bias"]
        log_std = hidden @ params["log_std_readout"].T + params["log_std_bias"]
        drive = self.drives(params, x).reshape((x.shape[0],) + (1,) * (u.ndim - 1) + (self.n_output,))
        return gain * drive, jnp.exp(log_std)

    # -- simulation ----------------------------------------------------------------------------
    def sample(self, params, x, key, n_samples: int) -> dict:
        """``n_samples`` trials per input: ``responses`` (n, S, K) and ``gain`` (n, S), the
        gain unit's state u = log c."""
        key_gain, key_noise = jax.random.split(key)
        n = x.shape[0]
        gain_mean, gain_std = self.gain_distribution(params, x)
        u = gain_mean[:, None] + gain_std[:, None] * jax.random.normal(key_gain, (n, n_samples))
        mean, std = self.conditional(params, x, u)
        units = mean + std * jax.random.normal(key_noise, (n, n_samples, self.n_output))
        return {"responses": units @ params["mixing"].T + params["response_bias"], "gain": u}

    def _log_conditional(self, params, x, u, r):
        """log q(r | x, u) for r (n, S, K) and u (n, S) or (n, J, S)."""
        mean, std = self.conditional(params, x, u)
        mixing_inverse = jnp.linalg.inv(params["mixing"])
        if u.ndim == 3:
            r = r[:, None]
        whitened = ((r - params["response_bias"]) @ mixing_inverse.T - mean) / std
        return (-0.5 * (whitened**2).sum(-1) - jnp.log(std).sum(-1)
                - jnp.linalg.slogdet(params["mixing"])[1] - 0.5 * self.n_output * jnp.log(2 * jnp.pi))

    def log_response_density(self, params, x, r):
        """log q(r | x) for responses r (n, S, K): (n, S).

        The integral over the gain state u is a trapezoid rule on ``quadrature_nodes``
        equally spaced nodes within 8 sds of u's mean. Equal spacing, not Gauss-Hermite:
        where a noise unit's sd is small the integrand is peaked in u, and Gauss-Hermite's
        wide outer spacing misses the peak (measured: 2e-3 nats off at 48 nodes, for a
        perturbed circuit in the tests).
        """
        offsets = np.linspace(-8.0, 8.0, self.quadrature_nodes)
        log_weights = jnp.asarray(np.log(np.exp(-0.5 * offsets**2) / np.sqrt(2 * np.pi) * (offsets[1] - offsets[0])))
        gain_mean, gain_std = self.gain_distribution(params, x)

        def one_input(args):
            x_row, r_row, mean_row, std_row = args
            u = jnp.broadcast_to((mean_row + std_row * offsets)[None, :, None], (1, offsets.size, r_row.shape[0]))
            log_conditional = self._log_conditional(params, x_row[None], u, r_row[None])[0]  # (J, S)
            return jax.scipy.special.logsumexp(log_conditional + log_weights[:, None], axis=0)

        # One input at a time: the (nodes, trials, K) array of every input at once is large.
        return jax.lax.map(one_input, (x, r, gain_mean, gain_std))


@dataclass(frozen=True, eq=False)
class GainObjective:
    """The GSM's generative model, as the gain circuit's objective needs it.

    decoder A (D, K), noise_std (scalar or (D,)), prior_cov C (K, K), contrast_shape k and
    contrast_scale theta of the Gamma prior on c.
    """

    decoder: np.ndarray
    noise_std: np.ndarray
    prior_cov: np.ndarray
    contrast_shape: float
    contrast_scale: float

    def loss(self, circuit: GainCircuit, params, x, key, n_samples: int):
        """Mean over x of the joint negative ELBO (module docstring), without its constants."""
        draws = circuit.sample(params, x, key, n_samples)
        r, u = draws["responses"], draws["gain"]
        c = jnp.exp(u)[..., None]
        decoded = c * (r @ jnp.asarray(self.decoder).T)
        decoding = 0.5 * (((x[:, None, :] - decoded) / jnp.asarray(self.noise_std)) ** 2).sum(-1)
        prior = 0.5 * jnp.einsum("nsk,kl,nsl->ns", r, jnp.asarray(np.linalg.inv(self.prior_cov)), r)
        shape, scale = self.contrast_shape, self.contrast_scale
        contrast_prior = -((shape - 1) * u - jnp.exp(u) / scale) - u  # -log p(u) up to a constant
        _, gain_std = circuit.gain_distribution(params, x)
        _, std = circuit.conditional(params, x, u)
        entropy = (jnp.log(gain_std)[:, None] + jnp.log(std).sum(-1)
                   + jnp.linalg.slogdet(params["mixing"])[1])
        return jnp.mean(decoding + prior + contrast_prior - entropy)


def train_gain_circuit(circuit: GainCircuit, objective: GainObjective, data, key, steps: int = 3000,
                       batch_size: int = 64, n_samples: int = 16, learning_rate: float = 0.02,
                       final_learning_rate: float = 2e-4, progress: bool = True):
    """Adam (step size decayed exponentially) on minibatches drawn with replacement.

    Returns (params, losses (steps,)). Raises ``TrainingDiverged`` naming the step at which
    the loss stopped being finite.
    """
    from tqdm.auto import tqdm

    from circuits.learning import TrainingConfig, TrainingDiverged, decaying_adam

    config = TrainingConfig(steps=steps, batch_size=batch_size, noise_samples=n_samples,
                            learning_rate=learning_rate, final_learning_rate=final_learning_rate)
    data = jnp.asarray(np.asarray(data, dtype=float))
    if data.ndim != 2 or data.shape[1] != circuit.n_input:
        raise ValueError(f"data must have shape (N, {circuit.n_input}), got {data.shape}")
    key_init, key_loop = jax.random.split(key)
    params = circuit.init(key_init)
    optimizer = decaying_adam(config)

    @jax.jit
    def chunk(params, state, keys):
        def step(carry, step_key):
            p, s = carry
            key_batch, key_noise = jax.random.split(step_key)
            x = data[jax.random.randint(key_batch, (batch_size,), 0, data.shape[0])]
            loss, grads = jax.value_and_grad(objective.loss, argnums=1)(circuit, p, x, key_noise, n_samples)
            updates, s = optimizer.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), loss
        return jax.lax.scan(step, (params, state), keys)

    state = optimizer.init(params)
    losses, done = [], 0
    with tqdm(total=steps, disable=not progress, unit="step", desc="training GainCircuit") as bar:
        while done < steps:
            n = min(config.steps_per_check, steps - done)
            key_loop, key_chunk = jax.random.split(key_loop)
            (params, state), chunk_losses = chunk(params, state, jax.random.split(key_chunk, n))
            chunk_losses = np.asarray(chunk_losses)
            if not np.all(np.isfinite(chunk_losses)):
                first_bad = done + int(np.argmin(np.isfinite(chunk_losses))) + 1
                raise TrainingDiverged(f"training diverged at step {first_bad}: the loss is not finite. "
                                       "Try a smaller learning rate.")
            losses.append(chunk_losses)
            done += n
            bar.update(n)
    return jax.tree_util.tree_map(np.asarray, params), np.concatenate(losses)
