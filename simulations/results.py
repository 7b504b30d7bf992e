"""Results conventions: self-describing xarray Datasets saved as netCDF (h5netcdf).

Every experiment returns a Dataset built with ``new_dataset``:
- each data variable and coordinate carries ``attrs["units"]`` (``"1"`` for dimensionless);
- ``attrs["config"]`` holds the full configuration as JSON (netCDF attributes cannot be
  nested), and ``attrs["seed"]``, ``attrs["experiment"]`` and ``attrs["package_version"]``
  are repeated as plain attributes for quick reading;
so a saved file alone says how to regenerate it and its exact posterior.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["CONFIG_UNITS", "variable", "scalar", "parameter_variables", "parameters_of", "new_dataset", "check_units",
           "save", "save_figure", "write_atomically", "load", "load_results", "check_output_path",
           "check_figure_path", "config_of", "package_version"]


def package_version() -> str:
    try:
        return metadata.version("sampling-circuits")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def variable(dims, values, units: str, description: str = "") -> xr.Variable:
    """An xarray Variable with ``units`` (and ``description``) in its attrs."""
    if not isinstance(units, str) or not units:
        raise ValueError("units must be a non-empty string ('1' for dimensionless)")
    attrs = {"units": units}
    if description:
        attrs["description"] = description
    return xr.Variable(dims, np.asarray(values), attrs=attrs)


def scalar(value, units: str = "1", description: str = "") -> xr.Variable:
    """A 0-d float variable (a metric) with units."""
    return variable((), float(value), units, description)


def parameter_variables(params: Mapping, description: str = "trained circuit parameter",
                        dims: Mapping[str, tuple[str, ...]] | None = None) -> dict:
    """Trained parameters as variables ``param_<name>``, the form ``parameters_of`` reads back;
    each described as ``f"{description} {name}"``.

    dims : parameter name -> named dims (e.g. ``("latent", "hidden")``). Named dims let files
        whose parameters differ in shape (a sweep over architectures) merge, padded with NaN,
        provided each dim has an index coordinate. A parameter not listed gets the generic
        dims ``param_<name>_<axis>``.
    """
    dims = dims or {}
    out = {}
    for name, value in params.items():
        value = np.asarray(value, dtype=float)
        names = dims.get(name) or tuple(f"param_{name}_{axis}" for axis in range(value.ndim))
        if len(names) != value.ndim:
            raise ValueError(f"dims for parameter {name!r} must have {value.ndim} names, got {names}")
        out[f"param_{name}"] = variable(names, value, "1", f"{description} {name}")
    return out


def parameters_of(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """The trained parameters a results Dataset holds (the inverse of ``parameter_variables``)."""
    return {name[len("param_"):]: np.asarray(ds[name].values) for name in ds.data_vars if name.startswith("param_")}


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


#: Units of the configuration keys that have them (everything else is a count, a name or a
#: quantity in the task's own latent units); ``show`` prints them beside the values.
CONFIG_UNITS = {"duration": "s", "dt": "s", "tau": "s", "burn_in": "s", "window": "s", "tau_inhibitory": "s",
                "wall_time_s": "s"}


def new_dataset(data_vars: Mapping[str, xr.Variable], coords: Mapping[str, xr.Variable] | None,
                config: Mapping, experiment: str) -> xr.Dataset:
    """Assemble a results Dataset and attach the configuration.

    Parameters
    ----------
    data_vars, coords : name -> Variable (from ``variable``), each with units.
    config : the full configuration (JSON-serialisable values, arrays allowed); must
        contain ``seed``.
    experiment : the experiment's name, e.g. ``"linear-gaussian"``.
    """
    if "seed" not in config:
        raise ValueError("config must contain the seed")
    config = _jsonable(dict(config))
    ds = xr.Dataset(dict(data_vars), coords=dict(coords or {}))
    ds.attrs.update({
        "experiment": experiment,
        "seed": int(config["seed"]),
        "package_version": package_version(),
        "config": json.dumps(config, sort_keys=True),
    })
    check_units(ds)
    return ds


def check_units(ds: xr.Dataset) -> None:
    """Raise ValueError naming every variable or coordinate without ``attrs['units']``."""
    missing = [name for name in list(ds.data_vars) + list(ds.coords) if "units" not in ds[name].attrs]
    if missing:
        raise ValueError(f"variables without units: {', '.join(map(str, missing))}")


def config_of(ds: xr.Dataset) -> dict:
    """The configuration a Dataset was made with."""
    if "config" not in ds.attrs:
        raise ValueError("dataset has no 'config' attribute: it was not made by sampling-circuits")
    return json.loads(ds.attrs["config"])


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to netCDF (h5netcdf) atomically: a crash never leaves a half-written file.

    The file gets the permissions of any new file under the user's umask (0644 under umask
    022), so colleagues on shared storage can read it; the temporary file it is written to
    first would otherwise keep mkstemp's private 0600.
    """
    check_units(ds)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))


def save_figure(figure, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write a Matplotlib figure atomically, in the format its suffix names, with the
    permissions ``save`` gives (0644 under umask 022)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if not fmt:
        raise ValueError(f"{path}: the figure path needs a suffix naming its format (.png, .pdf, ...)")
    return write_atomically(path, lambda tmp: figure.savefig(tmp, dpi=dpi, format=fmt))


def write_atomically(path: Path, write) -> Path:
    """Write a file so that a killed process never leaves part of it: ``write(temporary path)``
    in ``path``'s folder, umask permissions, then rename onto ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load(path: str | os.PathLike) -> xr.Dataset:
    """Read a netCDF file fully into memory (the file is closed on return).

    Raises FileNotFoundError for a missing path and ValueError (one line) for a folder or a
    file that is not netCDF.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a netCDF results file")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a netCDF file written by sampling-circuits "
                         f"({type(error).__name__} while reading it)") from None


def load_results(path: str | os.PathLike, experiments: tuple[str, ...] | None = None) -> xr.Dataset:
    """``load`` a file this package wrote, checking which experiment it holds.

    experiments : the experiment names accepted (``attrs["experiment"]``); None accepts any.
    Raises ValueError naming what the file holds and what was expected.
    """
    ds = load(path)
    if "config" not in ds.attrs or "experiment" not in ds.attrs:
        raise ValueError(f"{path} is a netCDF file but was not written by sampling-circuits (no configuration)")
    if experiments is not None and ds.attrs["experiment"] not in experiments:
        raise ValueError(f"{path} holds the results of '{ds.attrs['experiment']}'; expected "
                         f"{' or '.join(repr(e) for e in experiments)}")
    return ds


def check_output_path(path: str | os.PathLike, option: str = "--out") -> Path:
    """Check, before any work starts, that ``path`` can take a results file.

    It must end in ``.nc``, must not be a folder, and its folder must exist and be writable.
    Raises ValueError naming ``option``.
    """
    path = Path(path)
    if path.suffix != ".nc":
        raise ValueError(f"{option} {path}: a results file name must end in .nc")
    return _check_writable(path, option)


def check_figure_path(path: str | os.PathLike, option: str = "--plot") -> Path:
    """Check, before any work starts, that ``path`` can take a figure: a suffix Matplotlib
    writes (.png, .pdf, .svg, ...), not a folder, in a writable folder. ValueError naming ``option``."""
    from matplotlib.figure import Figure

    path = Path(path)
    formats = Figure().canvas.get_supported_filetypes()
    if path.suffix.lstrip(".").lower() not in formats:
        raise ValueError(f"{option} {path}: a figure file name must end in one of "
                         f"{', '.join('.' + name for name in sorted(formats))}")
    return _check_writable(path, option)


def _check_writable(path: Path, option: str) -> Path:
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a folder; give a file name such as {path / 'results.nc'}")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"{option} {path}: the folder {folder} does not exist (create it with: mkdir -p {folder})")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: the folder {folder} is not writable")
    return path
