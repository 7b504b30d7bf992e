"""Does sampling emerge when every noise source pays for itself, and when the model is learned?

The emergence table: architecture x charge {responses, local} x decoder {true, learned} x task
{identity prior (K=4, D=8), correlated prior, overcomplete (K=6, D=4)}, each cell trained from
several seeds. Per cell:
- ``kl_floor_ratio``: KL(responses || true posterior) / mean-field floor (true decoder only;
  a learned decoder's latents are identified only up to a rotation);
- ``kl_implied_posterior``: KL to the posterior of the model the circuit implies (nats);
- ``mean_error_sd``: |response mean - true posterior mean| in posterior sds;
- ``objective_gap``: what SGD left on the table (trained minus closed-form optimal objective);
- ``optimum_kl_floor_ratio`` / ``optimum_kl_implied``: the same KLs for the closed-form optimal
  circuit, which says what the cost itself makes optimal.

With the true decoder, the ``responses`` charge and the log cost, the objective is the
negative ELBO, so the posterior is optimal by construction: that row is the reference. The
``local`` charge is the test of emergence (``circuits.learning``).
"""

from __future__ import annotations

import sys

import numpy as np
from tqdm.auto import tqdm

from analysis.plots import new_panels
from simulations.experiments import ARCHITECTURES, run_linear_gaussian
from simulations.figures._common import figure_dataset, index, main_for
from simulations.results import config_of, variable

NAME = "emergence"
DESCRIPTION = "KL / floor and KL to the implied posterior for architecture x charge x decoder x task"

CHARGES = ("responses", "local")
DECODERS = ("true", "learned")
TASKS = {"identity": dict(n_latent=4, n_input=8, prior="identity"),
         "correlated-overcomplete": dict(n_latent=6, n_input=4, prior="correlated", prior_correlation=0.5)}
METRICS = {
    "kl_floor_ratio": ("1", "KL(responses || true posterior) / mean-field floor (true decoder)"),
    "kl_implied_posterior": ("nats", "KL(responses || posterior of the implied model)"),
    "mean_error_sd": ("1", "mean |response mean - true posterior mean| in posterior sds"),
    "objective_gap": ("nats", "trained minus closed-form optimal objective, per input"),
    "optimum_kl_floor_ratio": ("1", "KL / floor of the closed-form optimal circuit (true decoder)"),
    "optimum_kl_implied": ("nats", "KL of the closed-form optimal circuit to its implied posterior (learned)"),
}


def build(seed: int = 1, quick: bool = False, progress: bool = False):
    # Quick (CI) mode: one seed, short training: the optimum columns (closed form, exact) are the
    # published ones; the trained columns only check the pipeline.
    seeds = [seed + offset for offset in range(1 if quick else 3)]
    # Full size: each charge's default training (3000 steps; 6000 for the local charge).
    options = dict(steps=300, samples=50, n_test=10) if quick else dict(samples=200, n_test=20)
    shape = (len(TASKS), len(ARCHITECTURES), len(CHARGES), len(DECODERS), len(seeds))
    values = {name: np.full(shape, np.nan) for name in METRICS}
    cells = [(t, a, c, d, s) for t in range(len(TASKS)) for a in range(len(ARCHITECTURES))
             for c in range(len(CHARGES)) for d in range(len(DECODERS)) for s in range(len(seeds))]
    for t, a, c, d, s in tqdm(cells, desc=NAME, unit="run", disable=not progress):
        learned = DECODERS[d] == "learned"
        ds = run_linear_gaussian(seeds[s], architecture=ARCHITECTURES[a], charge=CHARGES[c], learn_decoder=learned,
                                 learn_precision=learned, progress=False, **TASKS[list(TASKS)[t]], **options)
        for name in METRICS:
            if name in ds:
                values[name][t, a, c, d, s] = float(ds[name])
    dims = ("task", "architecture", "charge", "decoder", "seed")
    data_vars = {name: variable(dims, values[name], units, description)
                 for name, (units, description) in METRICS.items()}
    coords = {"task": index("task", list(TASKS), "linear-Gaussian task"),
              "architecture": index("architecture", list(ARCHITECTURES), "circuit architecture"),
              "charge": index("charge", list(CHARGES), "where the reliability and activity costs are charged"),
              "decoder": index("decoder", list(DECODERS), "true generative decoder, or decoder and precision learned"),
              "seed": index("seed", seeds, "seed of the task and the circuit")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, tasks=TASKS, **options)


def _cell(values) -> str:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "–"
    if values.size == 1:
        return f"{values[0]:.3g}"
    return f"{values.mean():.3g} ± {values.std(ddof=1) / np.sqrt(values.size):.2g}"


def table_markdown(ds) -> str:
    """The emergence table as Markdown: mean ± SE over seeds in each cell."""
    lines = ["| task | architecture | charge | decoder | KL / floor | KL to implied (nats) | mean error (sd) "
             "| objective gap (nats) | optimum: KL / floor or KL to implied |",
             "|---|---|---|---|---|---|---|---|---|"]
    for task in ds.task.values:
        for architecture in ds.architecture.values:
            for charge in ds.charge.values:
                for decoder in ds.decoder.values:
                    cell = {name: ds[name].sel(task=task, architecture=architecture, charge=charge,
                                               decoder=decoder).values for name in METRICS}
                    optimum = cell["optimum_kl_floor_ratio"] if decoder == "true" else cell["optimum_kl_implied"]
                    lines.append(f"| {task} | {architecture} | {charge} | {decoder} | {_cell(cell['kl_floor_ratio'])} "
                                 f"| {_cell(cell['kl_implied_posterior'])} | {_cell(cell['mean_error_sd'])} "
                                 f"| {_cell(cell['objective_gap'])} | {_cell(optimum)} |")
    return "\n".join(lines)


def plot(ds):
    figure, axes = new_panels(1, 2)
    architectures = [str(a) for a in ds.architecture.values]
    positions = np.arange(len(architectures))
    width = 0.2
    for panel, decoder in zip(axes[0], ds.decoder.values, strict=True):
        name = "kl_floor_ratio" if decoder == "true" else "kl_implied_posterior"
        optimum_name = "optimum_kl_floor_ratio" if decoder == "true" else "optimum_kl_implied"
        for j, (task, charge) in enumerate((t, c) for t in ds.task.values for c in ds.charge.values):
            cell = ds[name].sel(task=task, charge=charge, decoder=decoder).values
            offset = (j - 1.5) * width
            panel.bar(positions + offset, np.nanmean(cell, axis=-1), width, label=f"{task}, {charge}", alpha=0.7)
            panel.plot(positions + offset, ds[optimum_name].sel(task=task, charge=charge, decoder=decoder)
                       .values.mean(-1), "k_", ms=8)
        panel.set_xticks(positions, architectures)
        if decoder == "true":
            panel.axhline(1.0, color="0.5", ls=":", lw=1)
        panel.set_xlabel("architecture")
        panel.set_ylabel("KL / mean-field floor" if decoder == "true" else "KL to implied posterior (nats)")
        panel.set_title(f"{decoder} decoder", fontsize=9)
    # One legend for both panels, below them, so that no bar is hidden behind it.
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=7, frameon=False)
    steps = config_of(ds).get("steps", "default")
    figure.suptitle(f"{steps} training steps; bars: trained (mean over seeds), "
                    "ticks: closed-form optimum", fontsize=9)
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
