"""A stochastic SSN on an orientation ring, at the scale of Echeveste et al. (2020).

N excitatory and N inhibitory cells share N preferred orientations theta_i = i pi / N (one E
and one I cell per orientation, a hypercolumn). The dynamics are those of ``circuits.ssn``
(tau du/dt = -u + W rho(u) + h(x) + eta, rho(u) = k [u]_+^n, Dale's law); what changes is how
W, h and eta are parameterised:

- **Connectivity** (Echeveste, Aitchison, Hennequin & Lengyel 2020, after Ben-Yishai et al.
  1995): a strength J_ab [mV s] and a width l_ab [1] per population pair (a, b in {E, I}),
      W_ij = s_b J_ab k_ab(theta_i - theta_j) / sum_j' k_ab(theta_i - theta_j'),
      k_ab(d) = exp((cos 2d - 1) / l_ab^2),
  s_b = +1 for E and -1 for I presynaptic cells. The normalisation keeps J_ab the total input
  a cell of population a receives from population b at uniform rates, so J_ab is on the scale
  of Hennequin et al.'s (2018) two-population weights, which initialise it. Unlike
  ``StochasticSSN``, a cell's own term (the kernel's peak) is kept, as in ring models.
- **Input stage** (learned, initialised from the GSM's filters): filter responses f = F x
  (F is (N, D), one filter per orientation, initialised to the task's filters A^T), their
  energy e(x) = sqrt(mean_i f_i^2), and per population a gain on f, a gain on e and a bias:
      h_i^a = g_a f_i + q_a e(x) + b_a   [mV].
  The energy term is the input's contrast measured through the learned filters, not a drive
  fixed by hand: F, g, q and b are all trained. ``input_stage="ring"`` ties the filters to
  the ring instead: F = M F_0, with F_0 the initial filters held fixed and M circulant and
  even, M_ij = m(theta_i - theta_j), so each cell mixes the fixed filters by a learned
  profile of orientation offsets (floor(N/2) + 1 numbers in place of N D). For a GSM on a
  ring the exact posterior mean at a given contrast has this form: both A^T A and the prior
  covariance are (nearly) circulant, so mu = (g^2 A^T A / s^2 + C^-1)^-1 g A^T x / s^2 is a
  circulant mixture of A^T x.
  ``divisive_normalisation=True`` divides the tuned drive by the energy,
      h_i^a = g_a f_i / (1 + e(x) / e_0) + q_a e(x) + b_a,
  with e_0 [mV] learned: the normalisation by pooled filter energy that computes a GSM's
  posterior mean (Schwartz & Simoncelli 2001; Wainwright & Simoncelli 2000), given to the
  input stage instead of being left to the recurrence. Its gain on f falls as 1/e at high
  contrast, as the exact posterior mean's gain on A^T x does.
- **Input noise** eta: OU processes (time constant tau_noise) with stationary covariance
      Sigma_eta = diag(sigma) (R kron K_eta) diag(sigma),
  sigma the sd of each population [mV], K_eta the ring kernel of a learned width l_eta and R
  the 2x2 E-I correlation [[1, r], [r, 1]], |r| < 1 (learned): a trained noise covariance with
  the ring's symmetry. ``input_noise=False`` removes it (the no-noise control).
  ``private_noise=True`` adds an independent term per cell, Sigma_eta + diag(p)^2 with p a
  learned sd per population [mV]: the ring kernel is positive everywhere, so without it
  every pair of nearby cells shares most of its noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from circuits._validation import count, positive
from circuits.ssn import _HENNEQUIN_WEIGHTS, StochasticSSN

__all__ = ["RingSSN", "INPUT_STAGES", "ring_kernel", "ring_orientations"]

#: The input stage's forms: free filters, or filters tied to the ring (module docstring).
INPUT_STAGES = ("filters", "ring")

# Cholesky jitter, relative to the unit diagonal of the noise correlation: a wide l_eta makes
# K_eta nearly rank one.
_JITTER = 1e-4


def ring_orientations(n: int) -> np.ndarray:
    """Preferred orientations theta_i = i pi / n, radians, (n,)."""
    return np.arange(count("ring size", n, 2)) * np.pi / n


def ring_kernel(orientations, width, xp=jnp):
    """k(theta_i - theta_j) = exp((cos 2(theta_i - theta_j) - 1) / width^2), (n, n); 1 on the
    diagonal. A von Mises kernel on the orientation circle: positive definite for any width > 0
    (its Fourier coefficients are modified Bessel functions, all positive). ``xp``: the array
    module (numpy for float64 task matrices, jax.numpy to differentiate in the width)."""
    difference = orientations[:, None] - orientations[None, :]
    return xp.exp((xp.cos(2.0 * difference) - 1.0) / width**2)


@dataclass(frozen=True)
class RingSSN(StochasticSSN):
    """A ``StochasticSSN`` on an orientation ring (module docstring).

    n_excitatory : N, the ring size (cells per population, >= 2); n_inhibitory must equal it.
    input_noise : False removes eta (the no-noise control).
    input_stage : "filters" (every filter learned) or "ring" (a learned circulant mixture of
        the fixed initial filters); one of ``INPUT_STAGES``.
    divisive_normalisation : True divides the tuned drive by 1 + e(x) / e_0 (module docstring).
    private_noise : True adds independent noise per cell to the ring-correlated noise.
    """

    input_noise: bool = True
    input_stage: str = "filters"
    divisive_normalisation: bool = False
    private_noise: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.n_excitatory < 2:
            raise ValueError(f"ring size (n_excitatory) must be >= 2, got {self.n_excitatory!r}")
        if self.n_inhibitory != self.n_excitatory:
            raise ValueError(f"a ring has one E and one I cell per orientation: n_inhibitory must equal "
                             f"n_excitatory ({self.n_excitatory}), got {self.n_inhibitory}")
        if self.input_stage not in INPUT_STAGES:
            raise ValueError(f"input_stage must be one of {INPUT_STAGES}, got {self.input_stage!r}")

    @property
    def orientations(self) -> np.ndarray:
        return ring_orientations(self.n_excitatory)

    def init(self, key, filters=None, noise_std: float = 1.0, connection_width: float = 0.5,
             noise_width: float = 0.5, normalisation_energy: float = 10.0,
             private_noise_std: float = 0.5) -> dict:
        """Initial parameters. ``filters`` (N, D): the input stage's initial filters (the task's
        A^T); default random N(0, 1/D). J_ab from Hennequin et al. (2018), every width
        ``connection_width``, input gains 1 (E and I), energy gains 0, biases 2 mV, noise sd
        ``noise_std`` mV in both populations with width ``noise_width`` and no E-I correlation.
        With the ring input stage, ``filters`` is the fixed basis F_0 and the profile m starts
        at the identity (m(0) = 1, else 0), so both stages start from the same filters. With
        divisive normalisation, e_0 starts at ``normalisation_energy`` mV; with private noise,
        its sd starts at ``private_noise_std`` mV in both populations."""
        positive("noise_std", noise_std)
        positive("normalisation_energy", normalisation_energy)
        positive("private_noise_std", private_noise_std)
        positive("connection_width", connection_width)
        positive("noise_width", noise_width)
        if filters is None:
            filters = jax.random.normal(key, (self.n_excitatory, self.n_input)) / np.sqrt(self.n_input)
        filters = jnp.asarray(filters, dtype=jnp.float32)
        if filters.shape != (self.n_excitatory, self.n_input):
            raise ValueError(f"filters must be (ring size, n_input) = {(self.n_excitatory, self.n_input)}, "
                             f"got {filters.shape}")
        tied = {"filter_profile": jnp.zeros(self.n_excitatory // 2 + 1).at[0].set(1.0)} \
            if self.input_stage == "ring" else {}
        if self.divisive_normalisation:
            tied["log_normalisation_energy"] = jnp.asarray(np.log(normalisation_energy), dtype=jnp.float32)
        if self.private_noise:
            tied["log_private_noise_std"] = jnp.full(2, np.log(private_noise_std), dtype=jnp.float32)
        return {
            **tied,
            "log_strength": jnp.log(jnp.asarray(_HENNEQUIN_WEIGHTS, dtype=jnp.float32)),
            "log_width": jnp.full((2, 2), np.log(connection_width), dtype=jnp.float32),
            "filters": filters,
            "input_gain": jnp.ones(2),
            "energy_gain": jnp.zeros(2),
            "input_bias": jnp.full(2, 2.0),
            "log_noise_std": jnp.full(2, np.log(noise_std), dtype=jnp.float32),
            "log_noise_width": jnp.asarray(np.log(noise_width), dtype=jnp.float32),
            "noise_correlation_logit": jnp.zeros(()),
        }

    # -- structure -----------------------------------------------------------------------
    def _population_pairs(self, values):
        """(2, 2) per-pair values spread to (n_units, n_units) blocks."""
        population = np.repeat([0, 1], self.n_excitatory)
        return values[population][:, population]

    def weights(self, params):
        """W [mV s], (n_units, n_units): ring kernels per population pair, normalised so row
        block (a, b) sums to s_b J_ab."""
        theta = np.tile(self.orientations, 2)
        width = self._population_pairs(jnp.exp(params["log_width"]))
        kernel = jnp.exp((jnp.cos(2.0 * (theta[:, None] - theta[None, :])) - 1.0) / width**2)
        block_sum = kernel[:, : self.n_excitatory].sum(1), kernel[:, self.n_excitatory:].sum(1)
        normaliser = jnp.concatenate([jnp.repeat(block_sum[0][:, None], self.n_excitatory, 1),
                                      jnp.repeat(block_sum[1][:, None], self.n_inhibitory, 1)], axis=1)
        signs = jnp.concatenate([jnp.ones(self.n_excitatory), -jnp.ones(self.n_inhibitory)])
        strength = self._population_pairs(jnp.exp(params["log_strength"]))
        return strength * kernel / normaliser * signs[None, :]

    def input_filters(self, params):
        """F, (N, D): the learned filters, or with the ring input stage M F_0, M_ij =
        m(theta_i - theta_j) from the profile m over offsets 0 .. floor(N/2) (m(-d) = m(d)), F_0
        held fixed (no gradient reaches it)."""
        if self.input_stage == "filters":
            return params["filters"]
        offsets = np.arange(self.n_excitatory)
        offset = (offsets[:, None] - offsets[None, :]) % self.n_excitatory
        mixing = params["filter_profile"][np.minimum(offset, self.n_excitatory - offset)]
        return mixing @ jax.lax.stop_gradient(params["filters"])

    def filter_responses(self, params, x):
        """f = F x, (..., N)."""
        return x @ self.input_filters(params).T

    def input_drive(self, params, x):
        """h = g_a f + q_a e(x) + b_a for each population a, with f divided by 1 + e(x) / e_0
        under divisive normalisation; mV, (..., n_units)."""
        f = self.filter_responses(params, x)
        energy = jnp.sqrt(jnp.mean(f * f, axis=-1, keepdims=True))
        tuned = f / (1.0 + energy / jnp.exp(params["log_normalisation_energy"])) if self.divisive_normalisation else f
        pop = np.repeat([0, 1], self.n_excitatory)
        return (jnp.tile(tuned, 2) * params["input_gain"][pop] + energy * params["energy_gain"][pop]
                + params["input_bias"][pop])

    def noise_std(self, params):
        """Stationary sd of each cell's OU input noise, mV, (n_units,); 0 without input noise."""
        sd = jnp.repeat(jnp.exp(params["log_noise_std"]), self.n_excitatory)
        return sd if self.input_noise else jnp.zeros_like(sd)

    def noise_correlation(self, params):
        """R kron K_eta, (n_units, n_units): the correlation matrix of eta."""
        r = jnp.tanh(params["noise_correlation_logit"])
        kernel = ring_kernel(self.orientations, jnp.exp(params["log_noise_width"]))
        return jnp.kron(jnp.array([[1.0, r], [r, 1.0]]), kernel)

    def private_noise_std(self, params):
        """sd of each cell's independent noise term, mV, (n_units,); 0 without it."""
        if not (self.private_noise and self.input_noise):
            return jnp.zeros(self.n_units)
        return jnp.repeat(jnp.exp(params["log_private_noise_std"]), self.n_excitatory)

    def noise_covariance(self, params):
        """Sigma_eta [mV^2], (n_units, n_units): the stationary covariance of eta."""
        sd = self.noise_std(params)
        shared = sd[:, None] * self.noise_correlation(params) * sd[None, :]
        return shared + jnp.diag(self.private_noise_std(params) ** 2)

    def _noise_kick(self, params, noise_decay):
        """L^T sqrt(2 dt / tau_noise), L L^T = Sigma_eta (with a small diagonal jitter on the
        ring-correlated part)."""
        correlation = self.noise_correlation(params) + _JITTER * jnp.eye(self.n_units)
        if self.private_noise and self.input_noise:
            sd = self.noise_std(params)
            covariance = sd[:, None] * correlation * sd[None, :] + jnp.diag(self.private_noise_std(params) ** 2)
            factor = jnp.linalg.cholesky(covariance)
        else:  # kept as it was, so that runs without private noise are unchanged to the bit
            factor = jnp.linalg.cholesky(correlation) * self.noise_std(params)[:, None]
        return factor.T * jnp.sqrt(2.0 * noise_decay)

    @staticmethod
    def _kick(noise_kick, eps):
        return eps @ noise_kick
