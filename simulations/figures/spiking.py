"""KL(sampled || exact) against simulated time for the spike-based Boltzmann sampler
(Buesing, Bill, Nessler & Maass 2011), with the Gibbs reference at matched sample count and
the plug-in bias floor: the data and plot of ``run boltzmann``."""

from __future__ import annotations

import json
import sys

from analysis.plots import plot_kl_vs_time
from simulations.figures._common import main_for
from simulations.spiking_experiments import run_boltzmann

NAME = "spiking"
DESCRIPTION = "KL vs simulated time for the spike-based Boltzmann sampler"


def build(seed: int = 1, quick: bool = False, progress: bool = False):
    ds = run_boltzmann(seed, n_units=5, duration=10.0 if quick else 100.0, progress=progress)
    config = json.loads(ds.attrs["config"])
    ds.attrs.update({"experiment": f"figure-{NAME}",
                     "config": json.dumps({**config, "figure": NAME, "quick": quick, "run": "boltzmann"},
                                          sort_keys=True)})
    return ds


def plot(ds):
    return plot_kl_vs_time(ds).figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
