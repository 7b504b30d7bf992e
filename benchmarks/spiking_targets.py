"""Wall time of the spiking circuits on each Brian2 code-generation target, as a Markdown table.

    python -m benchmarks.spiking_targets [--duration 100] [--targets numpy cython cpp_standalone]

For each target: the spike-based Boltzmann sampler (K = 5, one chain, ``--duration``
simulated seconds, dt = 0.5 ms) and the spiking realisation of a rate circuit (4 latents x
ON/OFF x 500 trials, 5 windows of 1 s, dt = 0.1 ms). Each is run twice: the first run
includes code generation and compilation (cached in ``circuits.brian_tools.cache_directory``),
the second shows the steady cost (for cpp_standalone every run rebuilds the program).
Reported: wall seconds and simulated network seconds per wall second.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from circuits.brian_tools import TARGETS
from circuits.spiking import SpikingBoltzmannSampler, simulate_sampler
from circuits.spiking_rate import design_synaptic_code, simulate_spiking_circuit
from simulations.spiking_experiments import random_boltzmann_machine


def _timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=100.0, help="sampler seconds per run")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    args = parser.parse_args(argv)

    W, b = random_boltzmann_machine(5, np.random.default_rng(0))
    sampler = SpikingBoltzmannSampler(W, b)
    rng = np.random.default_rng(1)
    code = design_synaptic_code(rng.normal(0, 1, (5, 4)), np.array([0.3, 0.4, 0.5, 0.35]), window=1.0)
    workloads = {
        "boltzmann K=5": (args.duration, lambda target: simulate_sampler(sampler, args.duration, 1, target=target)),
        "spiking circuit": (5.0, lambda target: simulate_spiking_circuit(code, 500, 1, target=target)),
    }
    print("| workload | target | first run (s) | second run (s) | simulated s / wall s |")
    print("|---|---|---|---|---|")
    for name, (simulated, run) in workloads.items():
        for target in args.targets:
            first = _timed(run, target)
            second = _timed(run, target)
            print(f"| {name} | {target} | {first:.1f} | {second:.1f} | {simulated / second:.1f} |", flush=True)


if __name__ == "__main__":
    main()
