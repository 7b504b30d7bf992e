"""Brian2 plumbing shared by the spiking circuits: code-generation targets, the compiled-code
cache, seeding, and export of monitors to xarray.

Targets (``TARGETS``):
- ``numpy``: pure Python/NumPy, no compiler; what the tests use.
- ``cython``: runtime mode with compiled code objects, cached in
  ``cache_directory() / "cython"`` (a project-controlled directory, not Cython's global one).
- ``cpp_standalone``: the whole simulation compiled to a C++ program in
  ``cache_directory() / "standalone" / <name>``.

Seeding: Brian2's runtime targets draw from NumPy's *global* generator (``brian2.seed``
calls ``numpy.random.seed``); ``brian_session`` saves and restores that generator's state so
a caller's global stream is untouched. The same seed gives different streams on different
targets, and cpp_standalone compiles the seed into the program: a new seed means a new build.
The spiking circuits therefore vectorise trials inside one network (a ``trial`` index on
every neuron) and derive one seed per run, rather than looping over networks.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import xarray as xr

from circuits._validation import count

__all__ = ["TARGETS", "cache_directory", "check_target", "brian_session", "spike_monitor_to_dataset",
           "state_monitor_to_dataset", "rate_monitor_to_dataset", "quantity_values", "progress_reporter"]

TARGETS = ("numpy", "cython", "cpp_standalone")


def cache_directory() -> Path:
    """Where compiled Brian2 code is kept: ``$SAMPLING_CIRCUITS_CACHE``, else
    ``$XDG_CACHE_HOME/sampling-circuits``, else ``~/.cache/sampling-circuits``."""
    if os.environ.get("SAMPLING_CIRCUITS_CACHE"):
        return Path(os.environ["SAMPLING_CIRCUITS_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "sampling-circuits"


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}; got {target!r}")
    return target


@contextlib.contextmanager
def brian_session(target: str, seed: int, name: str = "network"):
    """Select a code-generation target and seed Brian2 for one simulation; restore afterwards.

    Yields the ``brian2`` module. For ``cpp_standalone`` the program is built and run when
    the network's ``run`` is called (``build_on_run``), in a directory named after ``name``.
    """
    check_target(target)
    seed = count("seed", seed, 0)
    import brian2

    saved_target = brian2.prefs.codegen.target
    saved_cache = brian2.prefs.codegen.runtime.cython.cache_dir
    saved_numpy_state = np.random.get_state()
    try:
        if target == "cpp_standalone":
            directory = cache_directory() / "standalone" / name
            brian2.set_device("cpp_standalone", directory=str(directory), build_on_run=True, with_output=False)
        else:
            brian2.prefs.codegen.target = target
            if target == "cython":
                brian2.prefs.codegen.runtime.cython.cache_dir = str(cache_directory() / "cython")
        brian2.seed(seed)
        yield brian2
    finally:
        if target == "cpp_standalone":
            brian2.device.reinit()
            brian2.set_device("runtime")
        brian2.prefs.codegen.target = saved_target
        brian2.prefs.codegen.runtime.cython.cache_dir = saved_cache
        np.random.set_state(saved_numpy_state)


def progress_reporter(progress: bool, description: str):
    """(report callback for ``Network.run``, tqdm bar) or (None, None); close the bar after the run."""
    if not progress:
        return None, None
    from tqdm.auto import tqdm

    bar = tqdm(total=100, desc=description, unit="%")

    def report(elapsed, completed, start, duration):
        bar.update(round(100 * completed) - bar.n)

    return report, bar


def quantity_values(quantity) -> tuple[np.ndarray, str]:
    """A Brian2 quantity (or plain array) as (float array in SI base units, unit string)."""
    from brian2 import Quantity, get_dimensions, get_unit

    if isinstance(quantity, Quantity):
        dimensions = get_dimensions(quantity)
        units = "1" if dimensions.is_dimensionless else str(get_unit(dimensions))
        return np.asarray(quantity, dtype=float), units
    return np.asarray(quantity), "1"


def _neuron_coords(n_neurons: int, neuron_coords: dict | None) -> dict:
    coords = {"neuron": ("neuron", np.arange(n_neurons), {"units": "1", "description": "neuron index in its group"})}
    for name, values in (neuron_coords or {}).items():
        values = np.asarray(values)
        if values.shape != (n_neurons,):
            raise ValueError(f"neuron coordinate {name!r} must have shape ({n_neurons},), got {values.shape}")
        coords[name] = ("neuron", values, {"units": "1"})
    return coords


def spike_monitor_to_dataset(monitor, neuron_coords: dict | None = None) -> xr.Dataset:
    """A SpikeMonitor as a Dataset: ``spike_time`` and ``spike_neuron`` along ``spike``, and
    ``spike_count`` per neuron. ``neuron_coords`` adds per-neuron labels (e.g. trial, unit)."""
    times, _ = quantity_values(monitor.t)
    n_neurons = len(monitor.source)
    neurons = np.asarray(monitor.i, dtype=np.int64)
    return xr.Dataset(
        {
            "spike_time": ("spike", times, {"units": "s", "description": "time of each spike"}),
            "spike_neuron": ("spike", neurons, {"units": "1", "description": "index of the neuron that spiked"}),
            "spike_count": ("neuron", np.bincount(neurons, minlength=n_neurons),
                            {"units": "spikes", "description": "spikes per neuron over the recording"}),
        },
        coords=_neuron_coords(n_neurons, neuron_coords),
        attrs={"source": monitor.source.name},
    )


def state_monitor_to_dataset(monitor, variables, neuron_coords: dict | None = None) -> xr.Dataset:
    """A StateMonitor as a Dataset: one variable per recorded quantity, dims (time, neuron),
    values in SI base units with the unit's name (``V``, ``Hz``, ...) in attrs."""
    times, _ = quantity_values(monitor.t)
    recorded = np.asarray(monitor.record, dtype=np.int64)
    coords = _neuron_coords(len(monitor.source), neuron_coords)
    coords = {name: ("neuron", values[recorded], attrs) for name, (_, values, attrs) in coords.items()}
    coords["time"] = ("time", times, {"units": "s", "description": "recording time"})
    data = {}
    for name in variables:
        values, units = quantity_values(getattr(monitor, name))  # (neuron, time) in Brian2
        data[name] = (("time", "neuron"), values.T, {"units": units})
    return xr.Dataset(data, coords=coords, attrs={"source": monitor.source.name})


def rate_monitor_to_dataset(monitor, smoothing_width: float | None = None) -> xr.Dataset:
    """A PopulationRateMonitor as a Dataset: ``rate`` (Hz) along ``time`` (s); optionally
    smoothed with a flat window of ``smoothing_width`` seconds."""
    from brian2 import second

    times, _ = quantity_values(monitor.t)
    if smoothing_width is None:
        rate, _ = quantity_values(monitor.rate)
    else:
        rate, _ = quantity_values(monitor.smooth_rate(window="flat", width=smoothing_width * second))
    return xr.Dataset({"rate": ("time", rate, {"units": "Hz", "description": "population rate"})},
                      coords={"time": ("time", times, {"units": "s"})}, attrs={"source": monitor.source.name})
