"""Parameter sweeps on dask.distributed: one netCDF per point, resumable, failures recorded.

A sweep is a TOML file naming the experiment, the output folder, fixed options and a grid;
keys are the ``sampling-circuits run <experiment>`` option names (``cost-strength`` or
``cost_strength``)::

    experiment = "linear-gaussian"
    out = "sweeps/arch"
    [fixed]
    samples = 500
    [grid]
    architecture = ["single-layer", "multi-layer"]
    seed = [1, 2, 3]

Every point of the grid (the Cartesian product, keys in file order) runs as one task on a
dask.distributed cluster: a LocalCluster by default, or any scheduler by address, so a
SLURM cluster started with dask-jobqueue works unchanged. Layout of ``out``:

- ``sweep.json``: the configuration and the list of points (written first);
- ``points/<name>.nc``: a finished point, written atomically as soon as it finishes;
- ``points/<name>.json``: the record of a finished point, written by the worker right after
  the point's file: which attempt (run of the sweep) computed it, when it started and
  finished, its wall time, host and process (kept out of the netCDF files, so the same sweep
  run twice writes byte-identical files);
- ``points/<name>.error.json``: a point that failed, with its error and traceback;
- ``log.jsonl``: one line per point finished while the driver watched.

A rerun skips points whose file exists (resume) and retries the failed ones. Files are
written to a temporary name and renamed, so a killed process (a worker, or the driver with
its workers) never leaves a partial file that counts as finished: killing everything in
the middle of a sweep and running it again computes only the missing points.
``load_sweep(out)`` opens the finished points as one Dataset with the grid keys as dims.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import time
import tomllib
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr

__all__ = ["SweepConfig", "read_config", "validate_config", "run_point", "run_sweep", "load_sweep"]

_TOP_LEVEL = ("experiment", "out", "fixed", "grid")
# Options the sweep sets itself or that make no sense per point.
_RESERVED = {"out": "the sweep names each point's file", "quiet": "points never show a progress bar",
             "plot": "points write no plots"}


def _run_options(experiment: str) -> dict[str, argparse.Action]:
    """The ``run <experiment>`` options by destination name."""
    from simulations.registry import build_run_parser

    experiments = build_run_parser().run_parsers
    if experiment not in experiments:
        raise ValueError(f"experiment must be one of {', '.join(experiments)}; got {experiment!r}")
    return {action.dest: action for action in experiments[experiment]._actions if action.dest != "help"}


def _check_value(key: str, value, action: argparse.Action) -> None:
    expected = getattr(action.type, "base", action.type) or str
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        raise ValueError(f"{key}: expected a single {expected.__name__} value, got {value!r}")
    if expected is int and not isinstance(value, int):
        raise ValueError(f"{key}: expected an integer, got {value!r}")
    if expected is float and not (isinstance(value, (int, float)) and math.isfinite(value)):
        raise ValueError(f"{key}: expected a number, got {value!r}")
    if expected is str and not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {value!r}")
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"{key}: {value!r} is not one of {', '.join(map(str, action.choices))}")
    if hasattr(action.type, "base"):  # the option's range (registry.number), as the command checks it
        try:
            action.type(str(value))
        except argparse.ArgumentTypeError as error:
            raise ValueError(f"{key}: {error}") from None


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep: experiment name, output folder, fixed options and grid.

    Option names are stored in their ``run`` destination form (``cost_strength``).
    """

    experiment: str
    out: Path
    fixed: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)

    def points(self) -> list[dict]:
        """Each point's swept values, the Cartesian product of the grid (first key slowest)."""
        keys = list(self.grid)
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*self.grid.values())]

    @staticmethod
    def point_name(point: dict) -> str:
        """A file name that says what the point is, e.g. ``cost_strength=0.5_seed=2``."""
        name = "_".join(f"{key}={value}" for key, value in point.items())
        return re.sub(r"[^A-Za-z0-9_.=+-]", "-", name) or "point"

    def argv(self, point: dict, path: Path) -> list[str]:
        """The ``sampling-circuits`` arguments that run one point."""
        argv = ["run", self.experiment]
        for key, value in {**self.fixed, **point}.items():
            argv += [f"--{key.replace('_', '-')}" if key != "rate_results" else "--from", str(value)]
        return argv + ["--out", str(path), "--quiet"]

    def manifest(self) -> dict:
        return {"experiment": self.experiment, "fixed": self.fixed, "grid": self.grid,
                "points": [{"name": self.point_name(p), "values": p} for p in self.points()]}


def validate_config(raw: dict) -> SweepConfig:
    """Check a parsed sweep configuration before any work starts; errors name the key."""
    unknown = [key for key in raw if key not in _TOP_LEVEL]
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (a sweep has {', '.join(_TOP_LEVEL)})")
    for key in ("experiment", "out"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ValueError(f"{key}: a non-empty string is required")
    options = _run_options(raw["experiment"])
    sections = {}
    for section in ("fixed", "grid"):
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise ValueError(f"{section}: expected a table of options")
        sections[section] = {}
        for key, value in table.items():
            dest = key.replace("-", "_")
            dest = "rate_results" if dest == "from" else dest
            label = f"{section}.{key}"
            if dest in _RESERVED:
                raise ValueError(f"{label}: cannot be set in a sweep ({_RESERVED[dest]})")
            if dest not in options:
                raise ValueError(f"{label}: unknown option for 'run {raw['experiment']}'")
            if dest in sections.get("fixed", {}):
                raise ValueError(f"{label}: set both in [fixed] and in [grid]")
            if section == "grid":
                if not isinstance(value, list) or not value:
                    raise ValueError(f"{label}: expected a non-empty list of values")
                for item in value:
                    _check_value(label, item, options[dest])
                if len(set(map(str, value))) != len(value):
                    raise ValueError(f"{label}: values repeat")
                value = tuple(value)
            else:
                _check_value(label, value, options[dest])
            sections[section][dest] = value
    if not sections["grid"]:
        raise ValueError("grid: at least one option must be swept")
    required = [dest for dest, action in options.items() if action.required and dest not in _RESERVED]
    for dest in required:
        if dest not in sections["fixed"] and dest not in sections["grid"]:
            raise ValueError(f"{dest}: required by 'run {raw['experiment']}'; set it in [fixed] or [grid]")
    config = SweepConfig(raw["experiment"], Path(raw["out"]), sections["fixed"], sections["grid"])
    _check_points(config)
    return config


def _check_points(config: SweepConfig) -> None:
    """Validate every point's options as its run would, so a bad value fails before any point runs."""
    from simulations.registry import build_run_parser, experiment_call
    from simulations.tasks import check_options

    parser = build_run_parser()
    for point in config.points():
        args = parser.parse_args(config.argv(point, Path("point.nc")))
        _, kwargs, _ = experiment_call(args)
        try:
            check_options(config.experiment, kwargs)
        except ValueError as error:
            raise ValueError(f"grid point {config.point_name(point)}: {error}") from None


def read_config(path: str | os.PathLike) -> SweepConfig:
    """Read and validate a sweep TOML file; ``out`` is relative to the current directory."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML ({error})") from None
    return validate_config(raw)


def run_point(argv: list[str], attempt: int | None = None) -> float:
    """Run one point in this process and save it; returns its wall time in seconds.

    Runs through the command line's own parser, so a sweep key means what the option means.
    The wall time is removed from the file, which keeps reruns byte-identical; it goes, with
    the ``attempt`` (the sweep run that computed the point), the start and finish times, host
    and process id, to the record ``<name>.json`` beside the point's file.
    """
    import socket

    from simulations.registry import build_run_parser, experiment_call
    from simulations.results import save

    started = time.time()
    args = build_run_parser().parse_args(argv)  # importing simulations.registry has set JAX_PLATFORMS
    experiment, kwargs, _ = experiment_call(args)
    ds = experiment(**kwargs)
    wall = float(ds.attrs.pop("wall_time_s", math.nan))
    path = save(ds, args.out)
    _write_json(path.with_suffix(".json"), {"point": path.stem, "attempt": attempt, "started": started,
                                            "finished": time.time(), "wall_time_s": wall,
                                            "host": socket.gethostname(), "pid": os.getpid()})
    return wall


def _write_json(path: Path, payload: dict) -> None:
    from simulations.results import write_atomically

    text = json.dumps(payload, indent=2, default=str)  # key order is the grid order
    write_atomically(path, lambda tmp: Path(tmp).write_text(text))


def _prepare_folder(config: SweepConfig) -> tuple[Path, int]:
    """Create the folders, write the manifest; returns the points folder and this run's attempt number."""
    points_dir = config.out / "points"
    points_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = config.out / "sweep.json"
    manifest = json.loads(json.dumps(config.manifest(), default=str))
    previous = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if previous:
        if (previous["experiment"], previous["fixed"]) != (manifest["experiment"], manifest["fixed"]):
            raise ValueError(f"out: {config.out} holds a different sweep ({manifest_path}); choose another folder")
        # A grid that grew keeps its finished points; the manifest lists the union.
        known = {p["name"]: p for p in previous["points"]}
        known.update({p["name"]: p for p in manifest["points"]})
        manifest["points"] = list(known.values())
    # Each run of the sweep is one attempt; the point records say which attempt computed them.
    manifest["attempts"] = previous.get("attempts", 0) + 1
    _write_json(manifest_path, manifest)
    return points_dir, manifest["attempts"]


def run_sweep(config: SweepConfig, scheduler: str | None = None, n_workers: int = 2, retries: int = 0,
              progress: bool = True, client=None, on_point_done=None) -> dict:
    """Run every unfinished point of ``config`` on dask.distributed.

    scheduler : address of a running scheduler (``tcp://host:8786``); default: a LocalCluster
        of ``n_workers`` single-threaded worker processes.
    retries : how often dask retries a failed point (a lost worker also triggers a retry).
    client : an existing ``distributed.Client`` (then ``scheduler`` and ``n_workers`` are ignored).
    on_point_done : called with each finished point's name (used by tests to kill a worker).

    Returns counts: ``{"done": ..., "skipped": ..., "failed": ...}``.
    """
    from distributed import Client, LocalCluster, as_completed
    from tqdm.auto import tqdm

    retries = int(retries)
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    points_dir, attempt = _prepare_folder(config)
    todo = {}
    skipped = 0
    for point in config.points():
        name = config.point_name(point)
        path = points_dir / f"{name}.nc"
        if path.exists():
            skipped += 1
            continue
        todo[name] = config.argv(point, path)

    owned = []
    if client is None and todo:
        if scheduler is None:
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            owned.append(cluster)
            client = Client(cluster)
        else:
            client = Client(scheduler)
        owned.insert(0, client)
    counts = {"done": 0, "skipped": skipped, "failed": 0}
    if not todo:
        return counts
    try:
        futures = {client.submit(run_point, argv, attempt, key=f"{name}-{time.time_ns()}", retries=retries,
                                 pure=False): name
                   for name, argv in todo.items()}
        bar = tqdm(total=len(todo), desc=f"sweep {config.out.name}", unit="point", disable=not progress)
        for future in as_completed(futures):
            name = futures[future]
            error_path = points_dir / f"{name}.error.json"
            try:
                wall = future.result()
            except Exception as error:  # noqa: BLE001 - a failed point is recorded, the others go on
                counts["failed"] += 1
                _write_json(error_path, {"point": name, "argv": todo[name], "error": f"{type(error).__name__}: {error}",
                                         "traceback": traceback.format_exception(error)})
            else:
                counts["done"] += 1
                error_path.unlink(missing_ok=True)
                with open(config.out / "log.jsonl", "a") as log:
                    log.write(json.dumps({"point": name, "wall_time_s": wall, "finished": time.time()}) + "\n")
            bar.update()
            if on_point_done is not None:
                on_point_done(name)
        bar.close()
    finally:
        for resource in owned:
            resource.close()
    return counts


def load_sweep(path: str | os.PathLike) -> xr.Dataset:
    """The finished points of a sweep as one Dataset, with the swept options as dimensions.

    Missing or failed points are NaN. Each point's configuration differs, so per-point
    attrs are dropped; the sweep's own configuration is in ``attrs["sweep"]`` (JSON).
    """
    from simulations.results import load

    path = Path(path)
    manifest_path = path / "sweep.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{path} is not a sweep folder (no sweep.json)")
    manifest = json.loads(manifest_path.read_text())
    grid = manifest["grid"]
    pieces = []
    for point in manifest["points"]:
        file = path / "points" / f"{point['name']}.nc"
        if not file.exists():
            continue
        ds = load(file)
        ds.attrs = {}
        pieces.append(ds.expand_dims({key: [point["values"][key]] for key in grid}))
    if not pieces:
        raise ValueError(f"{path}: no finished points yet")
    combined = xr.merge(pieces, compat="no_conflicts", join="outer", combine_attrs="drop_conflicts")
    combined = combined.transpose(*grid, ...)
    for key in grid:
        combined[key].attrs.update(units="1", description=f"swept option {key}")
    combined.attrs["sweep"] = json.dumps({k: manifest[k] for k in ("experiment", "fixed", "grid")})
    combined.attrs["points_finished"] = len(pieces)
    combined.attrs["points_total"] = len(manifest["points"])
    return combined
