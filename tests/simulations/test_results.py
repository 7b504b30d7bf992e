"""Results conventions: units everywhere, configuration in attrs, exact netCDF round trip."""

import numpy as np
import pytest
import xarray as xr

from simulations.results import check_units, config_of, load, new_dataset, save, variable


def _dataset():
    return new_dataset(
        {"rate": variable(("trial", "time"), np.arange(6.0).reshape(2, 3), "Hz", "firing rate")},
        {"time": variable("time", [0.0, 0.001, 0.002], "s"), "trial": variable("trial", [0, 1], "1")},
        {"seed": 7, "tau": 0.02, "nested": {"sizes": [1, 2]}, "array": np.eye(2)},
        "demo",
    )


def test_round_trip_is_exact(tmp_path):
    ds = _dataset()
    path = save(ds, tmp_path / "sub" / "demo.nc")
    loaded = load(path)
    xr.testing.assert_identical(ds, loaded)
    assert config_of(loaded) == {"seed": 7, "tau": 0.02, "nested": {"sizes": [1, 2]}, "array": [[1.0, 0.0], [0.0, 1.0]]}
    assert loaded.attrs["seed"] == 7 and loaded.attrs["experiment"] == "demo"
    assert [p.name for p in path.parent.iterdir()] == ["demo.nc"]  # no temporary files left


def test_variables_without_units_are_refused():
    ds = _dataset()
    ds["bare"] = ("trial", [1.0, 2.0])
    with pytest.raises(ValueError, match="variables without units: bare"):
        check_units(ds)


def test_config_must_carry_the_seed():
    with pytest.raises(ValueError, match="seed"):
        new_dataset({}, {}, {"tau": 0.02}, "demo")
