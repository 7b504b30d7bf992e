"""The Bayesian side: generative models with exact posteriors, and distances to them."""

from analysis.compare import compare_to_gaussian, discrete_kl, gaussian_kl, mean_field_kl_floor
from analysis.generative import (
    BoltzmannMachine,
    GaussianMixture,
    GaussianPosterior,
    GaussianScaleMixture,
    LinearGaussian,
)

__all__ = [
    "BoltzmannMachine",
    "GaussianMixture",
    "GaussianPosterior",
    "GaussianScaleMixture",
    "LinearGaussian",
    "compare_to_gaussian",
    "discrete_kl",
    "gaussian_kl",
    "mean_field_kl_floor",
]
