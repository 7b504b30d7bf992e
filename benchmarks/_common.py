"""Timing and reporting helpers shared by the benchmark sections."""

from __future__ import annotations

import os
import platform
import statistics
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def timed(function, repeats: int, *args, **kwargs) -> dict:
    """Wall seconds of ``function(*args, **kwargs)`` over ``repeats`` calls: min, median, max.

    The caller warms up (compiles) first; every call here is timed."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        function(*args, **kwargs)
        seconds.append(time.perf_counter() - started)
    return {"seconds_min": min(seconds), "seconds_median": statistics.median(seconds),
            "seconds_max": max(seconds), "repeats": repeats}


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}


def versions() -> dict:
    from importlib import metadata

    out = {}
    for package in ("sampling-circuits", "numpy", "jax", "jaxlib", "brian2", "scipy", "arviz-stats"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    def cell(value):
        if isinstance(value, float):
            return f"{value:.3g}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(column, "")) for column in columns) + " |" for row in rows]
    return "\n".join(lines)
