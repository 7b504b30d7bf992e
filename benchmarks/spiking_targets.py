"""Simulated seconds per wall second of the spiking circuits on each Brian2 target.

Workloads: the spike-based Boltzmann sampler with K = 10 units (one chain, dt = 0.5 ms),
and a 1,000-neuron spiking circuit (the spiking realisation of a rate circuit: 125 trials x
4 latents x ON/OFF Poisson neurons with stochastic synapses, dt = 0.1 ms). Each runs twice
per target: the first run includes code generation and compilation (cached in
``circuits.brian_tools.cache_directory``); the second is the steady cost. cpp_standalone
rebuilds its program on every run, so its wall time always includes the C++ build.

    python -m benchmarks.spiking_targets [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from circuits.brian_tools import TARGETS


def _workloads(quick: bool) -> dict:
    from circuits.spiking import SpikingBoltzmannSampler, simulate_sampler
    from circuits.spiking_rate import design_synaptic_code, simulate_spiking_circuit
    from simulations.spiking_experiments import random_boltzmann_machine

    W, b = random_boltzmann_machine(10, np.random.default_rng(0))
    sampler = SpikingBoltzmannSampler(W, b)
    code = design_synaptic_code(np.random.default_rng(1).normal(0, 1, (2 if quick else 5, 4)),
                                np.array([0.3, 0.4, 0.5, 0.35]), window=0.2 if quick else 1.0)
    sampler_seconds = 2.0 if quick else 50.0
    return {
        "Boltzmann sampler, K = 10": (sampler_seconds,
                                      lambda target: simulate_sampler(sampler, sampler_seconds, 1, target=target)),
        "spiking circuit, 1,000 neurons": (code.response_mean.shape[0] * code.window,
                                           lambda target: simulate_spiking_circuit(code, 125, 1, target=target)),
    }


def run(quick: bool, targets=None) -> list[dict]:
    targets = targets or (("numpy",) if quick else TARGETS)
    rows = []
    for name, (simulated, simulate) in _workloads(quick).items():
        for target in targets:
            walls = []
            for _ in range(2):
                started = time.perf_counter()
                simulate(target)
                walls.append(time.perf_counter() - started)
            rows.append({"workload": name, "target": target, "simulated_s": simulated,
                         "first_run_s": walls[0], "second_run_s": walls[1],
                         "simulated_s_per_wall_s": simulated / walls[1]})
    return rows


def main(argv=None) -> None:
    from benchmarks._common import markdown_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=None)
    args = parser.parse_args(argv)
    rows = run(args.quick, args.targets)
    print(markdown_table(rows, ["workload", "target", "simulated_s", "first_run_s", "second_run_s",
                                "simulated_s_per_wall_s"]))


if __name__ == "__main__":
    main()
