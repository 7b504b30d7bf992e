"""GSM circuits against the exact posterior, contrast by contrast (issue 18).

On the task of ``run gsm`` (K = 4, D = 8, contrasts 0.25-4), four response distributions are
scored against the exact GSM posterior p(z | x), a continuous mixture over contrast:
- the single-layer Gaussian circuit with the linear encoder (``run gsm``);
- the same with MLP encoders for its mean and noise gate (``run gsm --encoder mlp``);
- the gain circuit, whose sampled gain unit makes its responses a mixture
  (``run gsm-gain``);
- the best factorised Gaussian and the best Gaussian, found by optimisation: the lowest KL
  a circuit with independent noise, or any Gaussian circuit, could reach.
Per contrast: KL(responses || posterior) (nats), the mean error in posterior sds, the
variance ratio, and the gain unit's mean exp(u) against E[c | x].
"""

from __future__ import annotations

import sys

import numpy as np

from analysis.plots import _label, new_panels
from simulations.experiments import run_gsm
from simulations.figures._common import figure_dataset, index, main_for
from simulations.gsm_gain import run_gsm_gain
from simulations.results import config_of, variable

NAME = "gsm-posterior"
DESCRIPTION = ("GSM circuits vs the exact posterior per contrast: linear and MLP encoders, the gain circuit, and "
               "the best Gaussians")
CIRCUITS = ("linear", "mlp", "gain")
MEAN_ERROR_BAR = 0.15  # issue 18's acceptance bars
VARIANCE_RATIO_BAND = (0.85, 1.15)


def _sizes(quick: bool):
    """Task sizes, and training steps of the Gaussian and the gain circuits."""
    sizes = dict(n_test=2, n_train=2000) if quick else dict(n_test=8, n_train=20_000)
    return sizes, *((300, 600) if quick else (3000, 12_000))


def circuit_runs(seed: int, quick: bool = False, progress: bool = False) -> dict:
    """The three runs behind the figure: {"linear", "mlp" (with the Gaussian floors): ``run
    gsm`` files; "gain": a ``run gsm-gain`` file}."""
    sizes, gaussian_steps, gain_steps = _sizes(quick)
    return {"linear": run_gsm(seed, samples=20, steps=gaussian_steps, progress=progress, **sizes),
            "mlp": run_gsm(seed, samples=20, steps=gaussian_steps, encoder="mlp", gaussian_floors=True,
                           progress=progress, **sizes),
            "gain": run_gsm_gain(seed, steps=gain_steps, compare=False, samples=500 if quick else 2000,
                                 progress=progress, **sizes)}


def build(seed: int = 1, quick: bool = False, progress: bool = False, gsm_runs=None):
    """``gsm_runs``: optional output of ``circuit_runs(seed, quick)``, reused instead of
    training the circuits again."""
    sizes, gaussian_steps, gain_steps = _sizes(quick)
    runs = dict(gsm_runs) if gsm_runs is not None else circuit_runs(seed, quick, progress)
    for name in CIRCUITS:
        expected = dict(seed=seed, steps=gain_steps if name == "gain" else gaussian_steps, **sizes)
        config = config_of(runs[name])
        if {key: config.get(key) for key in expected} != expected or config.get("encoder", "gain") != name:
            raise ValueError(f"gsm_runs[{name!r}] is not circuit_runs({seed}, quick={quick})'s")
    levels = runs["mlp"]["contrast_level"].values

    def stacked(name):
        return np.stack([runs[circuit][name].values for circuit in CIRCUITS])

    floors = runs["mlp"]
    data_vars = {
        "kl_by_contrast": variable(("circuit", "contrast_level"), stacked("kl_mixture_by_contrast"), "nats",
                                   "mean over stimuli of KL(responses || exact GSM posterior)"),
        "mean_error_by_contrast": variable(("circuit", "contrast_level"), stacked("mean_error_by_contrast"),
                                           "posterior sd", "RMS over stimuli and latents of (response mean - "
                                           "posterior mean) / posterior sd"),
        "variance_ratio_by_contrast": variable(("circuit", "contrast_level"), stacked("variance_ratio_by_contrast"),
                                               "1", "mean over stimuli and latents of response / posterior variance"),
        "best_gaussian_kl_by_contrast": variable("contrast_level", floors["best_gaussian_kl_by_contrast"].values,
                                                 "nats", "lowest KL any Gaussian reaches, mean over stimuli"),
        "best_factorised_kl_by_contrast": variable("contrast_level", floors["best_factorised_kl_by_contrast"].values,
                                                   "nats", "lowest KL any factorised Gaussian reaches"),
        "best_factorised_mean_error_by_contrast": variable(
            "contrast_level", floors["best_factorised_mean_error_by_contrast"].values, "posterior sd",
            "mean error of the best factorised Gaussian"),
        "best_factorised_variance_ratio_by_contrast": variable(
            "contrast_level", floors["best_factorised_variance_ratio_by_contrast"].values, "1",
            "variance ratio of the best factorised Gaussian"),
        "gain_contrast_by_contrast": variable("contrast_level", runs["gain"]["gain_contrast_by_contrast"].values, "1",
                                              "the gain unit's mean exp(u), mean over stimuli"),
        "posterior_contrast_by_contrast": variable("contrast_level",
                                                   runs["gain"]["posterior_contrast_by_contrast"].values, "1",
                                                   "E[c | x], mean over stimuli"),
        "stimulus_contrast": variable("stimulus", floors["stimulus_contrast"].values, "1",
                                      "contrast the test stimulus was made with"),
        "kl_by_stimulus": variable(("circuit", "stimulus"), stacked("kl_mixture_posterior"), "nats",
                                   "KL(responses || exact GSM posterior) per test stimulus"),
        "best_gaussian_kl": variable("stimulus", floors["best_gaussian_kl"].values, "nats",
                                     "lowest KL any Gaussian reaches, per stimulus"),
    }
    coords = {"circuit": index("circuit", list(CIRCUITS), "linear / MLP-encoder Gaussian circuit, gain circuit"),
              "contrast_level": index("contrast_level", levels, "test contrast"),
              "stimulus": index("stimulus", np.arange(floors.sizes["stimulus"]), "test stimulus")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, gaussian_steps=gaussian_steps, gain_steps=gain_steps,
                          **sizes)


def plot(ds):
    figure, axes = new_panels(1, 4)
    ax_kl, ax_mean, ax_var, ax_gain = axes[0]
    levels = ds["contrast_level"].values
    labels = {"linear": "Gaussian, linear encoder", "mlp": "Gaussian, MLP encoder", "gain": "gain circuit (mixture)"}
    for index_, circuit in enumerate(ds["circuit"].values):
        style = dict(marker="o", color=f"C{index_}", label=labels[str(circuit)])
        ax_kl.plot(levels, ds["kl_by_contrast"].values[index_], **style)
        ax_mean.plot(levels, ds["mean_error_by_contrast"].values[index_], **style)
        ax_var.plot(levels, ds["variance_ratio_by_contrast"].values[index_], **style)
    ax_kl.plot(levels, ds["best_factorised_kl_by_contrast"].values, "k:", label="best factorised Gaussian")
    ax_kl.plot(levels, ds["best_gaussian_kl_by_contrast"].values, "k--", label="best Gaussian")
    ax_mean.plot(levels, ds["best_factorised_mean_error_by_contrast"].values, "k:")
    ax_var.plot(levels, ds["best_factorised_variance_ratio_by_contrast"].values, "k:")
    ax_mean.axhline(MEAN_ERROR_BAR, color="0.6", lw=0.8)
    ax_var.axhspan(*VARIANCE_RATIO_BAND, color="0.9")
    ax_gain.plot(levels, ds["gain_contrast_by_contrast"].values, "o-", color="C2", label="gain unit, mean exp(u)")
    ax_gain.plot(levels, ds["posterior_contrast_by_contrast"].values, "k--", label="E[c | x] (exact)")
    for ax in (ax_kl, ax_mean, ax_var, ax_gain):
        ax.set_xscale("log")
        ax.set_xticks(levels, [f"{level:g}" for level in levels])
        ax.minorticks_off()
    ax_kl.set_yscale("log")
    ax_mean.set_yscale("log")
    ax_gain.set_yscale("log")
    ax_kl.legend(fontsize="x-small")
    ax_gain.legend(fontsize="x-small")
    _label(ax_kl, "contrast", "KL to the exact posterior (nats)")
    _label(ax_mean, "contrast", "mean error (posterior sd)")
    _label(ax_var, "contrast", "response / posterior variance")
    _label(ax_gain, "contrast", "contrast (gain)")
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
