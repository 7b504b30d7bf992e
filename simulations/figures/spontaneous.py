"""Spontaneous activity against the blank-input posterior and the prior (Berkes, Orban,
Lengyel & Fiser 2011).

Two targets, named apart. Given a blank stimulus (x = 0) a circuit that samples the
posterior samples the exact posterior given x = 0, which is not the prior: the noise
(sd 0.5 per input) still says something about c A z. The evoked responses pooled over
stimuli drawn from the task follow the aggregate posterior, which for a calibrated model is
the prior itself. The circuits are the single-layer GSM circuits of ``run gsm``, with the
linear and the MLP encoder, and the gain circuit of ``run gsm-gain``.

KLs to the prior and between evoked and spontaneous activity (panels a-c) are between
Gaussian moment matches of the linear-encoder circuit's samples. KLs to the blank-input
posterior are to the exact (non-Gaussian) posterior, by Monte Carlo over each circuit's
response to x = 0 (its exact Gaussian, or the gain circuit's mixture;
``analysis.gsm_posterior``), beside the lowest KL any Gaussian and any factorised Gaussian
reach (``best_gaussian``). Nats.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from analysis.compare import gaussian_kl
from analysis.generative import GaussianScaleMixture
from analysis.gsm_posterior import best_gaussian, gaussian_kl_to_posterior, kl_to_posterior
from analysis.plots import _label, identity_scatter, new_panels
from analysis.variability import spontaneous_vs_prior
from circuits.gain import GainCircuit
from simulations.experiments import response_gaussian, run_gsm, trained_circuit
from simulations.figures._common import figure_dataset, index, main_for
from simulations.gsm_gain import run_gsm_gain
from simulations.results import config_of, parameters_of, scalar, variable

NAME = "spontaneous"
DESCRIPTION = ("spontaneous activity vs the blank-input posterior and the prior N(0, C), and evoked activity "
               "averaged over stimuli")
#: The circuits compared: the single-layer Gaussian circuit with the linear and the MLP
#: encoder (``run gsm``), and the gain circuit (``run gsm-gain``).
CIRCUITS = ("linear", "mlp", "gain")


def _training(quick: bool) -> dict:
    """Training steps of each circuit."""
    return {"linear": 400, "mlp": 400, "gain": 600} if quick else {"linear": 3000, "mlp": 3000, "gain": 12_000}


def check_training(run, seed: int, steps: int, circuit: str) -> None:
    """Raise ValueError unless ``run`` (a ``run gsm`` or ``run gsm-gain`` file) trained the
    circuit this figure would: this seed, steps and encoder, the default task and training set."""
    config = config_of(run)
    expected = {"seed": seed, "steps": steps, "n_train": 20_000, "noise_std": 0.5, "n_latent": 4, "n_input": 8}
    if circuit == "gain":
        expected.update(experiment="gsm-gain", width=16)
    else:
        expected.update(experiment="gsm", encoder=circuit, architecture="single-layer", encoder_width=16)
    wrong = {name: config.get(name) for name, value in expected.items() if config.get(name) != value}
    if wrong:
        raise ValueError(f"the {circuit} run does not hold the circuit this figure trains: {wrong}, expected "
                         f"{ {name: expected[name] for name in wrong} }")


def train_circuits(seed: int, quick: bool = False, progress: bool = False) -> dict:
    """The three trained circuits' files, {"linear", "mlp", "gain"}, at this figure's training."""
    steps = _training(quick)
    runs = {encoder: run_gsm(seed, progress=progress, encoder=encoder, steps=steps[encoder], samples=20, n_test=2)
            for encoder in ("linear", "mlp")}
    runs["gain"] = run_gsm_gain(seed, steps=steps["gain"], samples=2, n_test=1, compare=False, progress=progress)
    return runs


def blank_posterior_comparison(trained, model, key) -> dict:
    """KL(circuit's exact Gaussian response to x = 0 || exact posterior given x = 0) with its
    Monte Carlo SE, and KL(that Gaussian || prior N(0, C)) (closed form), nats."""
    circuit, params, _ = trained_circuit(trained)
    blank = np.zeros((1, model.n_obs))
    mean, cov = response_gaussian(circuit, params, blank)
    kl, kl_se = gaussian_kl_to_posterior(model, blank, mean, cov, key)
    prior_kl = float(gaussian_kl(mean[0], cov[0], np.zeros(model.n_latent), model.prior_cov))
    return {"kl": float(kl[0]), "kl_se": float(kl_se[0]), "prior_kl": prior_kl, "variance": np.diag(cov[0])}


def gain_blank_comparison(trained, model, key, n_draws: int = 4000) -> dict:
    """The same for the gain circuit, whose response is a mixture: both KLs by Monte Carlo
    over ``n_draws`` of its responses to x = 0 (the prior KL's SE is not kept), variances
    from those draws."""
    circuit = GainCircuit(model.n_obs, model.n_latent, width=config_of(trained)["width"])
    params = {name: jnp.asarray(value) for name, value in parameters_of(trained).items()}
    blank = np.zeros((1, model.n_obs))
    draws = circuit.sample(params, jnp.asarray(blank), key, n_draws)["responses"]
    log_q = np.asarray(circuit.log_response_density(params, jnp.asarray(blank), draws), dtype=float)
    draws = np.asarray(draws, dtype=float)
    kl, kl_se = kl_to_posterior(model, blank, draws, log_q)
    prior_kl = float(np.mean(log_q[0] - stats.multivariate_normal(np.zeros(model.n_latent),
                                                                  model.prior_cov).logpdf(draws[0])))
    return {"kl": float(kl[0]), "kl_se": float(kl_se[0]), "prior_kl": prior_kl, "variance": draws[0].var(0, ddof=1)}


def build(seed: int = 1, quick: bool = False, progress: bool = False, gsm_runs=None):
    """``gsm_runs``: optional files {"linear", "mlp", "gain"} of this seed and training
    (``train_circuits``; their test stimuli do not matter here). The figure then reuses
    their circuits instead of training them (the gsm-posterior figure's test shares them)."""
    steps = _training(quick)
    if gsm_runs is None:
        gsm_runs = train_circuits(seed, quick, progress)
    for circuit_name in CIRCUITS:
        check_training(gsm_runs[circuit_name], seed, steps[circuit_name], circuit_name)
    trained = gsm_runs["linear"]
    circuit, params, config = trained_circuit(trained)
    # The task from the file itself, not re-derived from the seed.
    model = GaussianScaleMixture(trained["A"].values, trained["prior_cov"].values, trained["noise_std"].values,
                                 config["contrast_shape"], config["contrast_scale"])
    n_spontaneous, n_stimuli, per_stimulus = (2000, 100, 20) if quick else (20000, 1000, 20)
    key_blank, key_evoked = jax.random.split(jax.random.PRNGKey(seed + 13))
    blank = np.zeros((1, model.n_obs))
    spontaneous = np.asarray(circuit.sample(params, jnp.asarray(blank), key_blank, n_spontaneous)["responses"][0])
    _, x_task = model.sample(n_stimuli, np.random.default_rng([seed, 5]))
    evoked = np.asarray(circuit.sample(params, jnp.asarray(x_task), key_evoked, per_stimulus)["responses"])
    divergences = spontaneous_vs_prior(spontaneous, evoked, model.prior_cov)
    blank_posterior = model.posterior(blank)
    key_linear, key_mlp, key_best = jax.random.split(jax.random.PRNGKey(seed + 17), 3)
    blank_comparisons = {"linear": blank_posterior_comparison(trained, model, key_linear),
                         "mlp": blank_posterior_comparison(gsm_runs["mlp"], model, key_mlp),
                         "gain": gain_blank_comparison(gsm_runs["gain"], model, jax.random.PRNGKey(seed + 19))}
    floors = {name: best_gaussian(model, blank, key_best, factorised=factorised)
              for name, factorised in (("gaussian", False), ("factorised", True))}
    bins = np.linspace(-4, 4, 41)
    histogram = np.stack([np.histogram(spontaneous[:, k], bins, density=True)[0] for k in range(model.n_latent)])
    data_vars = {
        "spontaneous_histogram": variable(("latent", "bin"), histogram, "1", "density of the spontaneous samples"),
        "spontaneous_cov": variable(("latent", "latent_"), np.cov(spontaneous, rowvar=False), "1",
                                    "covariance of spontaneous samples (x = 0)"),
        "evoked_cov": variable(("latent", "latent_"), np.cov(evoked.reshape(-1, model.n_latent), rowvar=False),
                               "1", "covariance of evoked samples pooled over task stimuli"),
        "prior_cov": variable(("latent", "latent_"), model.prior_cov, "1", "prior covariance C"),
        "blank_posterior_cov": variable(("latent", "latent_"), blank_posterior.cov[0], "1",
                                        "exact posterior covariance for x = 0"),
        "spontaneous_mean": variable("latent", spontaneous.mean(0), "1", "mean of spontaneous samples"),
        "circuit_blank_mean": variable("latent", np.asarray(circuit.mean(params, jnp.asarray(blank)))[0], "1",
                                       "the circuit's exact response mean for x = 0"),
        "circuit_blank_cov": variable(("latent", "latent_"),
                                      np.asarray(circuit.response_covariance(params, jnp.asarray(blank)))[0], "1",
                                      "the circuit's exact response covariance for x = 0"),
        **{name: scalar(value, "nats" if name.startswith("kl") else "1",
                        name.replace("_", " ")) for name, value in divergences.items()},
        "blank_posterior_variance": variable("latent", np.diag(blank_posterior.cov[0]), "1",
                                             "exact posterior variance for x = 0"),
        "kl_blank_posterior": variable("circuit", [blank_comparisons[c]["kl"] for c in CIRCUITS], "nats",
                                       "KL(circuit's response to x = 0 || exact posterior given x = 0), Monte Carlo"),
        "kl_blank_posterior_se": variable("circuit", [blank_comparisons[c]["kl_se"] for c in CIRCUITS], "nats",
                                          "Monte Carlo SE of kl_blank_posterior"),
        "kl_blank_prior": variable("circuit", [blank_comparisons[c]["prior_kl"] for c in CIRCUITS], "nats",
                                   "KL(circuit's response to x = 0 || prior N(0, C)): closed form for the "
                                   "Gaussian circuits, Monte Carlo for the gain circuit"),
        "circuit_blank_variance": variable(("circuit", "latent"), [blank_comparisons[c]["variance"] for c in CIRCUITS],
                                           "1", "each circuit's response variance for x = 0 (exact for the Gaussian "
                                                "circuits, from 4000 draws for the gain circuit)"),
        **{f"best_{name}_kl_blank": scalar(floor["kl"][0], "nats", f"lowest KL to the exact posterior given x = 0 "
                                           f"found over every {'factorised ' if name == 'factorised' else ''}Gaussian")
           for name, floor in floors.items()},
        **{f"best_{name}_kl_blank_se": scalar(floor["kl_se"][0], "nats", f"Monte Carlo SE of best_{name}_kl_blank")
           for name, floor in floors.items()},
    }
    coords = {"latent": index("latent", np.arange(model.n_latent), "latent"),
              "latent_": index("latent_", np.arange(model.n_latent), "second latent axis"),
              "bin": index("bin", 0.5 * (bins[1:] + bins[:-1]), "histogram bin centre (latent units)"),
              "circuit": index("circuit", list(CIRCUITS), "Gaussian circuit with the linear or the MLP encoder, "
                                                          "or the gain circuit")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, task="gsm", architecture="single-layer",
                          steps=steps, n_spontaneous=n_spontaneous, n_stimuli=n_stimuli,
                          per_stimulus=per_stimulus)


def plot(ds):
    figure, axes = new_panels(1, 4)
    ax_hist, ax_cov, ax_kl, ax_blank = axes[0]
    centres = ds["bin"].values
    for k in ds["latent"].values:
        ax_hist.plot(centres, ds["spontaneous_histogram"].values[k], drawstyle="steps-mid", alpha=0.7,
                     label=f"z{k}" if k < 4 else None)
    prior_sd = np.sqrt(np.diagonal(ds["prior_cov"].values).mean())
    ax_hist.plot(centres, np.exp(-0.5 * (centres / prior_sd) ** 2) / (prior_sd * np.sqrt(2 * np.pi)), "k--",
                 label="prior")
    _label(ax_hist, "spontaneous sample (latent units)", "density")
    identity_scatter(ax_cov, ds["prior_cov"].values, ds["spontaneous_cov"].values, label="spontaneous")
    identity_scatter(ax_cov, ds["prior_cov"].values, ds["evoked_cov"].values, label="evoked, pooled")
    identity_scatter(ax_cov, ds["prior_cov"].values, ds["blank_posterior_cov"].values,
                     label="exact posterior, x = 0", marker="x")
    _label(ax_cov, "prior covariance C (entries)", "covariance (entries)")
    names = ["kl_spontaneous_prior", "kl_evoked_prior", "kl_evoked_spontaneous"]
    ax_kl.bar(range(3), [float(ds[name]) for name in names], color=["C0", "C1", "C2"])
    ax_kl.set_xticks(range(3), ["spont. || prior", "evoked || prior", "evoked || spont."], fontsize="small")
    _label(ax_kl, "", "KL, linear encoder (nats)")
    circuits = list(ds["circuit"].values)
    positions = np.arange(len(circuits))
    ax_blank.bar(positions - 0.2, ds["kl_blank_posterior"].values, 0.4, yerr=2 * ds["kl_blank_posterior_se"].values,
                 label="|| exact posterior, x = 0")
    ax_blank.bar(positions + 0.2, ds["kl_blank_prior"].values, 0.4, label="|| prior N(0, C)")
    for name, style in (("gaussian", "k--"), ("factorised", "k:")):
        ax_blank.axhline(float(ds[f"best_{name}_kl_blank"]), color="k", ls=style[1:],
                         label=f"best {'factorised ' if name == 'factorised' else ''}Gaussian || exact posterior")
    names = {"linear": "linear encoder", "mlp": "MLP encoder", "gain": "gain circuit"}
    ax_blank.set_xticks(positions, [names[str(c)] for c in circuits], fontsize="small")
    ax_blank.set_yscale("log")  # from the gain circuit's thousandths of a nat to the linear encoder's nats
    ax_blank.set_ylim(top=100 * float(ds["kl_blank_prior"].max()))  # room for the legend above the bars
    ax_blank.legend(fontsize="x-small", loc="upper right")
    _label(ax_blank, "spontaneous response (x = 0)", "KL (nats)")
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
