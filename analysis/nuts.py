"""Reference posteriors by the No-U-Turn sampler, with their convergence checked.

Where a model's posterior has no closed form (``analysis.generative.SparseCoding``) the
reference a circuit is scored against is a long NUTS run (Hoffman & Gelman 2014), as
implemented in NumPyro (Phan, Pradhan & Jankowiak 2019), with an adapted dense mass matrix.
A reference is only as good as its convergence, so every result carries, per observation and
latent, the rank-normalised split R-hat and the bulk and tail effective sample sizes of
Vehtari, Gelman, Simpson, Carpenter & Buerkner (2021) (``arviz_stats``), and the number of
divergent transitions. Their conventional bars (R-hat < 1.01, bulk ESS > 400) are
``RHAT_BAR`` and ``ESS_BAR``.

The same sampler runs on the Gaussian scale mixture (sampling the contrast c and y = c z
jointly), whose exact moments are known by quadrature: that is how the NUTS reference is
validated.
A sampled mean and covariance from n_eff effective draws differ from the exact ones by
sampling error alone, which makes the KL between their moment-matched Gaussians about
(K + K (K + 1) / 2) / (2 n_eff) nats (the chi-square limit of a Gaussian fit's likelihood
ratio); ``moment_kl_floor`` is that number, the bar's noise floor. NUTS draws are often
anti-correlated for the means (bulk ESS above the number of draws) but not for the
variances, so the floor takes the ESS of the squared deviations for the covariance part.

Everything runs in float64 (``jax.enable_x64``); chains run one after another on one device.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np

from analysis import _validation as check
from analysis.compare import moment_match
from analysis.generative import GaussianScaleMixture, SparseCoding

__all__ = ["SampledPosterior", "nuts_posterior", "moment_kl_floor", "RHAT_BAR", "ESS_BAR"]

#: Largest acceptable rank-normalised split R-hat (Vehtari et al. 2021).
RHAT_BAR = 1.01
#: Smallest acceptable bulk (and tail) effective sample size over all chains (Vehtari et al. 2021).
ESS_BAR = 400.0


@dataclass(frozen=True, eq=False)
class SampledPosterior:
    """Moments of NUTS draws for each of n observations, and their diagnostics.

    Attributes
    ----------
    mean : (n, K) sample mean of z over all chains and draws, latent units.
    cov : (n, K, K) sample covariance of z.
    rhat : (n, K) rank-normalised split R-hat of each latent.
    ess_bulk, ess_tail : (n, K) bulk and tail effective sample sizes, draws.
    ess_second : (n, K) effective sample size of the squared deviations (z - mean)^2, which
        sets the sampling error of the variances.
    divergences : (n,) divergent transitions after warm-up, all chains.
    n_chains, n_draws : chains and kept draws per chain.
    wall_time_s : seconds for all observations, compilation included.
    """

    mean: np.ndarray
    cov: np.ndarray
    rhat: np.ndarray
    ess_bulk: np.ndarray
    ess_tail: np.ndarray
    ess_second: np.ndarray
    divergences: np.ndarray
    n_chains: int
    n_draws: int
    wall_time_s: float

    @property
    def converged(self) -> np.ndarray:
        """(n,) True where every latent has R-hat < ``RHAT_BAR``, bulk and tail ESS > ``ESS_BAR``
        and no draw diverged."""
        return ((self.rhat.max(1) < RHAT_BAR) & (self.ess_bulk.min(1) > ESS_BAR)
                & (self.ess_tail.min(1) > ESS_BAR) & (self.divergences == 0))


def moment_kl_floor(n_latent: int, ess_mean, ess_second=None) -> np.ndarray:
    """Expected KL (nats) between the Gaussian moment-matched to a sample and the exact one
    from sampling error alone: K / (2 ess_mean) + K (K + 1) / (4 ess_second), the numbers of
    fitted means and covariances each over twice its effective sample size (module
    docstring). ``ess_mean`` sets the error of the means (bulk ESS); ``ess_second`` that of
    the covariances (the ESS of the squared deviations; ``ess_mean`` when None, as for
    independent draws). A sampler's bias comes on top of this."""
    n_latent = check.count("n_latent", n_latent)
    ess_mean = check.positive("ess_mean", ess_mean)
    ess_second = ess_mean if ess_second is None else check.positive("ess_second", ess_second)
    return n_latent / (2.0 * ess_mean) + n_latent * (n_latent + 1) / (4.0 * ess_second)


def _gsm_program(x, model: GaussianScaleMixture):
    """The GSM in contrast-scaled coordinates y = c z (Jacobian c^-K).

    Given x, y = c z is pinned down by the likelihood to within the noise while c and z are
    each uncertain along a curved ridge; in (y, c) the ridge is straight, which NUTS needs when
    the noise is small (fitted GSMs on image patches): in (z, c) it diverges on such patches.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    contrast = numpyro.sample("contrast", dist.Gamma(model.contrast_shape, 1.0 / model.contrast_scale))
    scaled = numpyro.sample("scaled", dist.ImproperUniform(dist.constraints.real_vector, (), (model.n_latent,)))
    z = numpyro.deterministic("z", scaled / contrast)
    prior = dist.MultivariateNormal(jnp.zeros(model.n_latent), scale_tril=jnp.linalg.cholesky(model.prior_cov))
    numpyro.factor("prior_z", prior.log_prob(z) - model.n_latent * jnp.log(contrast))
    numpyro.sample("x", dist.Normal(jnp.asarray(model.A) @ scaled, jnp.asarray(model.noise_std)).to_event(1), obs=x)


def _sparse_program(x, model: SparseCoding):
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    if model.prior == "laplace":
        prior = dist.Laplace(0.0, model.prior_scale)
    else:
        prior = dist.StudentT(model.dof, 0.0, model.prior_scale)
    z = numpyro.sample("z", prior.expand([model.n_latent]).to_event(1))
    numpyro.sample("x", dist.Normal(jnp.asarray(model.A) @ z, model.noise_std).to_event(1), obs=x)


def _chain_sampler(program, x_example, n_warmup: int, n_draws: int, target_accept: float):
    """A jitted function (keys (L, 2), x (L, D)) -> (draws (L, n_draws, K), divergences (L,)) that
    runs one NUTS chain per lane: warm-up with step-size and dense mass-matrix adaptation, then
    ``n_draws`` kept draws. One compilation serves every observation (x is an argument)."""
    import jax
    from numpyro.infer.hmc import hmc
    from numpyro.infer.util import initialize_model

    info = initialize_model(jax.random.PRNGKey(0), program, model_args=(x_example,), dynamic_args=True)
    init_kernel, sample_kernel = hmc(potential_fn_gen=info.potential_fn, algo="NUTS")
    leaves, tree = jax.tree_util.tree_flatten(info.param_info.z)

    def one_chain(key, x_row):
        init_key, chain_key = jax.random.split(key)
        # NumPyro's init_to_uniform: each unconstrained coordinate uniform in (-2, 2).
        keys = jax.random.split(init_key, len(leaves))
        init = jax.tree_util.tree_unflatten(tree, [jax.random.uniform(k, leaf.shape, leaf.dtype, -2.0, 2.0)
                                                   for k, leaf in zip(keys, leaves, strict=True)])
        state = init_kernel(init, num_warmup=n_warmup, dense_mass=True, target_accept_prob=target_accept,
                            model_args=(x_row,), rng_key=chain_key)

        def step(state, _):
            state = sample_kernel(state, model_args=(x_row,))
            return state, (info.postprocess_fn(x_row)(state.z)["z"], state.diverging)

        _, (draws, diverging) = jax.lax.scan(step, state, None, length=n_warmup + n_draws)
        return draws[n_warmup:], diverging[n_warmup:].sum()

    return jax.jit(jax.vmap(one_chain))


def nuts_posterior(model: GaussianScaleMixture | SparseCoding, x, seed: int, n_chains: int = 4,
                   n_draws: int = 1000, n_warmup: int = 1000, target_accept: float = 0.8,
                   rows_per_batch: int = 8, progress: bool = False) -> SampledPosterior:
    """NUTS draws from p(z | x) for each row of ``x`` (n, D), and their moments and diagnostics.

    model : a ``SparseCoding`` or a ``GaussianScaleMixture`` (whose contrast is sampled too,
        with y = c z in place of z, and marginalised by keeping only z = y / c).
    seed : the JAX PRNG seed; chain j of row i uses the key folded from (seed, i, j), so a
        row's result does not depend on which other rows are in ``x`` (up to rounding).
    n_chains, n_draws, n_warmup : chains (>= 2, for R-hat), kept draws and warm-up
        (step-size and dense mass-matrix adaptation) iterations per chain.
    target_accept : the step-size adaptation's target acceptance probability, in (0, 1).
    rows_per_batch : rows whose chains run together, vectorised (one compilation for all
        batches; the last batch is padded).
    progress : a tqdm bar over batches.
    """
    import jax
    import jax.numpy as jnp
    from arviz_stats.base import array_stats
    from tqdm.auto import tqdm

    started = time.perf_counter()
    if isinstance(model, GaussianScaleMixture):
        program = functools.partial(_gsm_program, model=model)
    elif isinstance(model, SparseCoding):
        program = functools.partial(_sparse_program, model=model)
    else:
        raise ValueError(f"model must be a GaussianScaleMixture or a SparseCoding, got {type(model).__name__}")
    x = check.observations("x", x, model.n_obs)
    seed = check.count("seed", seed, 0)
    n_chains = check.count("n_chains", n_chains, 2)
    n_draws = check.count("n_draws", n_draws, 4)
    n_warmup = check.count("n_warmup", n_warmup, 1)
    rows_per_batch = check.count("rows_per_batch", rows_per_batch, 1)
    if not 0.0 < target_accept < 1.0:
        raise ValueError(f"target_accept must be in (0, 1), got {target_accept!r}")
    n_rows, n_latent = x.shape[0], model.n_latent
    rows_per_batch = min(rows_per_batch, n_rows)
    draws = np.empty((n_rows, n_chains, n_draws, n_latent))
    divergences = np.empty(n_rows, dtype=int)
    with jax.enable_x64(True):
        sampler = _chain_sampler(program, jnp.asarray(x[0]), n_warmup, n_draws, target_accept)
        root = jax.random.PRNGKey(seed)
        for first in tqdm(range(0, n_rows, rows_per_batch), desc="NUTS", unit="batch", disable=not progress):
            rows = np.minimum(np.arange(first, first + rows_per_batch), n_rows - 1)  # pad with the last row
            keys = jnp.stack([jax.random.fold_in(jax.random.fold_in(root, int(row)), chain)
                              for row in rows for chain in range(n_chains)])
            batch_draws, batch_divergences = sampler(keys, jnp.asarray(np.repeat(x[rows], n_chains, axis=0)))
            kept = slice(0, min(rows_per_batch, n_rows - first))
            draws[first:first + rows_per_batch] = np.asarray(batch_draws).reshape(
                (rows_per_batch, n_chains, n_draws, n_latent))[kept]
            divergences[first:first + rows_per_batch] = np.asarray(batch_divergences).reshape(
                rows_per_batch, n_chains).sum(1)[kept]
    mean, cov = moment_match(draws.reshape(n_rows, n_chains * n_draws, n_latent))
    rhat = np.asarray(array_stats.rhat(draws, chain_axis=1, draw_axis=2))
    ess_bulk = np.asarray(array_stats.ess(draws, chain_axis=1, draw_axis=2, method="bulk"))
    ess_tail = np.asarray(array_stats.ess(draws, chain_axis=1, draw_axis=2, method="tail", prob=(0.05, 0.95)))
    ess_second = np.asarray(array_stats.ess((draws - mean[:, None, None, :]) ** 2, chain_axis=1, draw_axis=2,
                                            method="mean"))
    return SampledPosterior(mean=mean, cov=cov, rhat=rhat, ess_bulk=ess_bulk, ess_tail=ess_tail, ess_second=ess_second,
                            divergences=divergences, n_chains=n_chains, n_draws=n_draws,
                            wall_time_s=time.perf_counter() - started)
