"""Emergence under local costs, with learned generative models (acceptance of the local-costs issue).

Every bar here is the issue's; none was chosen after seeing the result. Seeds are fixed, so
no test is flaky. Where training enters, each claim is checked on three training seeds (each
seed draws its own task and its own circuit initialisation), so the spread across training
runs is part of what must stay inside the bar.

False alarms: the published table (README, three seeds at this training length) gives the
spread across seeds. The largest local-charge objective gap is the recurrent circuit's,
0.0029 +- 0.0017 (mean +- SE, so a seed sd of 0.003): the 0.02-nat bar is 5.7 seed sds above
it (one-sided Gaussian 7e-9 per seed). The optima are closed-form (L-BFGS from fixed starts),
compared with theorems or with margins of 0.1 or more in KL / floor. The linear VAE's bars are
the issue's, compared with exact ML pPCA values.
"""

import numpy as np
import pytest

from analysis.generative import LinearGaussian
from simulations.experiments import ARCHITECTURES, run_linear_gaussian
from simulations.results import config_of

SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def local_runs():
    """Every architecture under the local charge, default training, three seeds."""
    return {(architecture, seed): run_linear_gaussian(seed, architecture=architecture, charge="local", samples=100,
                                                      n_test=10, progress=False)
            for architecture in ARCHITECTURES for seed in SEEDS}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_local_charge_trains_with_finite_converged_noise(local_runs, architecture):
    """Catches the degeneracy of the 'neurons' charge (hidden sds growing without bound) and
    training that has not converged: every noise sd finite, and changing by < 5% over the last
    20% of training."""
    for seed in SEEDS:
        ds = local_runs[architecture, seed]
        assert config_of(ds)["steps"] == 6000
        for name in ("trace_log_noise_std", "trace_hidden_log_noise_std"):
            if name not in ds:
                assert name == "trace_hidden_log_noise_std" and architecture != "multi-layer"
                continue
            sd = np.exp(ds[name].values)  # (check, neuron)
            assert np.all(np.isfinite(sd)) and np.all(sd < 10)
            last_fifth = ds.check.values >= 0.8 * ds.check.values[-1]
            window = sd[last_fifth]
            relative_change = np.abs(window - window[-1]) / window[-1]
            assert relative_change.max() < 0.05, (architecture, seed, name, relative_change.max())


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_local_charge_training_reaches_the_closed_form_optimum(local_runs, architecture):
    """objective_gap < 0.02 nats per input (the issue's bar) on every seed: catches noise frozen
    at its initial value, a wrong gradient, or too little training for the local charge."""
    gaps = [float(local_runs[architecture, seed].objective_gap) for seed in SEEDS]
    assert max(gaps) < 0.02 and min(gaps) > -1e-3, gaps


def test_neurons_charge_trains_the_recurrent_circuit_to_its_optimum():
    """--charge neurons (each neuron pays for its own noise sd, no activity term of its own) is
    bounded for the recurrent circuit, which has no hidden neurons: default training reaches
    the closed-form optimum within the issue's 0.02 nats per input. For a single-layer circuit
    the charge is the entropy charge exactly (tests/circuits/test_learning.py)."""
    ds = run_linear_gaussian(1, architecture="recurrent", charge="neurons", samples=100, n_test=10, progress=False)
    assert config_of(ds)["charge"] == "neurons"
    assert -1e-3 < float(ds.objective_gap) < 0.02


def _assert_local_optima(ratio: dict) -> None:
    """The emergence table's claims about what the local charge makes optimal (KL / floor of the
    closed-form optimum): independent noise cannot beat the floor (a theorem), the local
    multi-layer circuit is worse than the floor, the local recurrent circuit is below it."""
    for seed in SEEDS:
        assert ratio["single-layer", seed] > 1 - 1e-6
        assert ratio["multi-layer", seed] > 1
        assert ratio["recurrent", seed] < 1


def test_what_the_local_charge_makes_optimal(local_runs):
    """Identity prior: the single layer's local charge is the ELBO (Q diagonal), so its optimum
    is exactly the mean-field floor. Catches a wrong closed form or a wrong KL reference."""
    ratio = {(a, s): float(local_runs[a, s].optimum_kl_floor_ratio) for a in ARCHITECTURES for s in SEEDS}
    _assert_local_optima(ratio)
    for seed in SEEDS:
        assert ratio["single-layer", seed] == pytest.approx(1.0, abs=1e-6)


def test_what_the_local_charge_makes_optimal_with_a_correlated_overcomplete_task():
    """The same claims on the emergence table's second task (K = 6 latents, D = 4 inputs,
    correlated prior): closed-form optima only (training is not what is tested here; one
    step keeps the run cheap)."""
    ratio = {(a, s): float(run_linear_gaussian(s, architecture=a, charge="local", n_latent=6, n_input=4,
                                               prior="correlated", steps=1, samples=10, n_test=5, burn_in=0.05,
                                               progress=False).optimum_kl_floor_ratio)
             for a in ARCHITECTURES for s in SEEDS}
    _assert_local_optima(ratio)


@pytest.mark.parametrize("seed", SEEDS)
def test_learned_linear_vae_is_maximum_likelihood_ppca(seed):
    """A single-layer linear circuit, log cost at strength 1, learned decoder and isotropic
    precision is a linear VAE, whose optimum is the ML pPCA model with an exactly factorised
    posterior (Tipping & Bishop 1999; Lucas et al. 2019). Bars from the issue: held-out
    log-likelihood within 0.01 nats/dim of ML pPCA, implied marginal within 0.01 nats/dim of
    ML, KL to the implied posterior < 0.05 nats (plug-in bias at 500 samples: 0.009).
    Catches a decoding error without -1/2 log det P (P runs to 0), a decoder that does not learn,
    and an implied model assembled from the wrong parameters."""
    ds = run_linear_gaussian(seed, n_latent=3, n_input=10, learn_decoder=True, learn_precision=True, progress=False)
    assert abs(float(ds.heldout_loglik_implied) - float(ds.heldout_loglik_ml)) < 0.01
    assert float(ds.implied_marginal_kl_to_ml) < 0.01
    assert float(ds.kl_implied_posterior) < 0.05
    # The implied model recomputed from the file alone: x ~ N(0, A A^T + P^-1) with Q = I.
    implied = LinearGaussian(ds.decoder.values, 1 / np.sqrt(ds.decoding_precision.values),
                             np.linalg.inv(ds.activity_cost.values))
    np.testing.assert_allclose(implied.posterior(ds.x.values).mean, ds.implied_posterior_mean.values, rtol=1e-6,
                               atol=1e-9)


@pytest.mark.parametrize("kwargs, match", [
    (dict(charge="responses", activity_cost_hidden=1.0, architecture="multi-layer"), "--activity-cost-hidden"),
    (dict(charge="local", activity_cost_hidden=-1.0, architecture="multi-layer"), "--activity-cost-hidden"),
    (dict(charge="local", activity_cost_hidden=float("nan"), architecture="multi-layer"), "--activity-cost-hidden"),
    (dict(charge="local", activity_cost_hidden=1.0, architecture="single-layer"), "--activity-cost-hidden"),
    (dict(precision_shape="full"), "--precision-shape"),
    (dict(precision_shape="diagonal"), "--learn-precision"),
    (dict(prior="correlated", prior_correlation=1.0), "--prior-correlation"),
    (dict(prior="correlated", prior_correlation=-0.1), "--prior-correlation"),
    (dict(prior="identity", prior_correlation=0.3), "--prior-correlation"),
    (dict(prior="wishart"), "--prior"),
])
def test_bad_options_are_refused_before_training(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_linear_gaussian(1, progress=False, steps=1, **kwargs)
