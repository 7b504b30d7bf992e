"""Reliability-cost families: what it costs a neuron (or synapse) to be precise.

Each cost is a frozen dataclass with
- ``__call__(noise_std)``: the cost of independent noise sources with standard deviations
  ``noise_std`` (any shape; summed), in the units of the training objective (nats when the
  objective is the negative ELBO);
- ``of_covariance(cov)``: the same family applied along the principal axes of a correlated
  noise covariance (..., K, K): sum_k phi(sqrt(eig_k)). For a diagonal covariance it equals
  ``__call__`` of the per-neuron sds; for the log cost it is -lambda/2 log det(cov), the
  negative entropy up to a constant, which keeps the ELBO identity of
  Aitchison, Hennequin & Lengyel (2018) exact for correlated-noise circuits;
- ``optimal_variance(precision_diag)``: the optimum noise variance of a single-layer
  circuit whose expected energy in neuron i is 1/2 H_ii sigma_i^2 (H the posterior
  precision; see ``circuits.learning``), used by the tests as an exact reference.

Noise standard deviations are in the units of the responses (the latent units of the task).

Each cost is a JAX pytree whose strength (``energy_per_site`` for the biophysical cost) is a
leaf: a compiled training step takes it as an argument, so a sweep over cost strengths
compiles once per family (the exponent and scale are static).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from circuits._pytree import register_frozen_dataclass
from circuits._validation import positive

__all__ = ["LogCost", "PowerLawCost", "BiophysicalCost", "make_cost", "COST_FAMILIES"]


def _covariance_eigenvalues(cov):
    return jnp.linalg.eigvalsh(cov)


def _power_law(noise_std, exponent, scale, strength):
    return strength * jnp.sum((scale / noise_std) ** exponent) / exponent


def _power_law_of_covariance(cov, exponent, scale, strength):
    variances = _covariance_eigenvalues(cov)
    return strength * jnp.sum((scale**2 / variances) ** (exponent / 2), axis=-1) / exponent


@dataclass(frozen=True)
class LogCost:
    """cost = -strength * sum_i log sigma_i.

    With strength 1 this is the negative entropy of independent Gaussian noise (up to a
    constant), so a circuit trained on decoding error + activity cost + this cost maximises
    the ELBO of the matching generative model: its noise is the (mean-field) posterior
    (Aitchison, Hennequin & Lengyel 2018). It is the rho -> 0 limit of
    (sigma^-rho - 1) / rho, the power-law family below.
    """

    strength: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "strength", positive("strength", self.strength))

    def __call__(self, noise_std):
        return -self.strength * jnp.sum(jnp.log(noise_std))

    def of_covariance(self, cov):
        # log det via Cholesky: stable and differentiable.
        chol = jnp.linalg.cholesky(cov)
        return -self.strength * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)

    def optimal_variance(self, precision_diag):
        """argmin 1/2 H s^2 - lambda log s  =>  s^2 = lambda / H."""
        return self.strength / np.asarray(precision_diag, dtype=float)


@dataclass(frozen=True)
class PowerLawCost:
    """cost = strength * sum_i (1/rho) (scale / sigma_i)^rho, rho > 0.

    The form of Malkin, O'Donnell, Houghton & Aitchison (2024), in which the exponents
    rho = 1/2, 2/3, 4/3 and 2 correspond to four synaptic mechanisms (calcium pumps,
    vesicle membrane, actin, trafficking). ``scale`` is the noise level at which the
    cost is strength / rho per neuron, in response units.
    """

    exponent: float
    scale: float = 1.0
    strength: float = 1.0

    def __post_init__(self):
        for name in ("exponent", "scale", "strength"):
            object.__setattr__(self, name, positive(name, getattr(self, name)))

    def __call__(self, noise_std):
        return _power_law(noise_std, self.exponent, self.scale, self.strength)

    def of_covariance(self, cov):
        return _power_law_of_covariance(cov, self.exponent, self.scale, self.strength)

    def optimal_variance(self, precision_diag):
        """H s = lambda scale^rho s^-(rho+1)  =>  s^2 = (lambda scale^rho / H)^(2 / (rho + 2))."""
        h = np.asarray(precision_diag, dtype=float)
        return (self.strength * self.scale**self.exponent / h) ** (2.0 / (self.exponent + 2.0))


@dataclass(frozen=True)
class BiophysicalCost:
    """Energy of the release sites (or channels) needed for a given precision.

    Derivation. A neuron's output of mean size m is carried by n independent release
    sites, each releasing with probability p a quantum of size q: mean = n p q,
    variance = n p (1 - p) q^2. Holding the mean at m fixes q = m / (n p), so the noise
    variance is sigma^2 = m^2 (1 - p) / (n p): precision grows linearly with the number
    of sites (the same holds for n ion channels of open probability p). Each site costs
    ``energy_per_site`` to maintain and cycle, so reaching sd sigma costs
        E(sigma) = energy_per_site * n(sigma) = energy_per_site * (1 - p) / p * (m / sigma)^2,
    a power law of exponent 2 (the "trafficking" exponent of Malkin et al. 2024) whose
    coefficient is set by the biophysics. ``n_sites`` gives n(sigma) (a continuous count).

    Parameters
    ----------
    energy_per_site : energy of one site, in objective units (> 0).
    release_probability : p in (0, 1).
    signal_size : m, the typical response magnitude carried, in response units (> 0).
    """

    energy_per_site: float = 0.01
    release_probability: float = 0.5
    signal_size: float = 1.0

    def __post_init__(self):
        positive("energy_per_site", self.energy_per_site)
        positive("signal_size", self.signal_size)
        if not 0 < self.release_probability < 1:
            raise ValueError(f"release_probability must lie in (0, 1), got {self.release_probability!r}")

    def n_sites(self, noise_std):
        """Release sites needed for noise sd ``noise_std``: m^2 (1 - p) / (p sigma^2)."""
        p = self.release_probability
        return self.signal_size**2 * (1 - p) / (p * jnp.asarray(noise_std) ** 2)

    def as_power_law(self) -> PowerLawCost:
        """The equivalent PowerLawCost: strength * (1/2) (m / sigma)^2."""
        return PowerLawCost(exponent=2.0, scale=self.signal_size, strength=self._power_law_strength())

    def _power_law_strength(self):
        p = self.release_probability
        return 2.0 * self.energy_per_site * (1 - p) / p

    # Not through as_power_law: inside a compiled function energy_per_site is a tracer, which
    # PowerLawCost's validation cannot check.
    def __call__(self, noise_std):
        return _power_law(noise_std, 2.0, self.signal_size, self._power_law_strength())

    def of_covariance(self, cov):
        return _power_law_of_covariance(cov, 2.0, self.signal_size, self._power_law_strength())

    def optimal_variance(self, precision_diag):
        return self.as_power_law().optimal_variance(precision_diag)


register_frozen_dataclass(LogCost, leaves=("strength",), static=())
register_frozen_dataclass(PowerLawCost, leaves=("strength",), static=("exponent", "scale"))
register_frozen_dataclass(BiophysicalCost, leaves=("energy_per_site",), static=("release_probability", "signal_size"))

COST_FAMILIES = ("log", "power", "biophysical")


def make_cost(family: str, strength: float = 1.0, exponent: float | None = None, scale: float = 1.0):
    """Build a cost by name (as the command line does).

    ``log``: LogCost(strength); ``power``: PowerLawCost(exponent, scale, strength);
    ``biophysical``: BiophysicalCost with energy_per_site = strength, signal_size = scale.
    """
    if family == "log":
        return LogCost(strength)
    if family == "power":
        if exponent is None:
            raise ValueError("the power cost needs an exponent (rho > 0)")
        return PowerLawCost(exponent, scale, strength)
    if family == "biophysical":
        return BiophysicalCost(energy_per_site=strength, signal_size=scale)
    raise ValueError(f"unknown cost family {family!r}; choose one of {', '.join(COST_FAMILIES)}")
