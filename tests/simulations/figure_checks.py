"""Shared check of the figure tests: a figure saved to netCDF and reloaded redraws the same data."""

import numpy as np
from matplotlib.collections import Collection
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from simulations.results import config_of, load, save


def _drawn_data(figure):
    """Every line's, collection's and bar's data, panel by panel: what a redraw must reproduce."""
    data = []
    for ax in figure.axes:
        for artist in ax.get_children():
            if isinstance(artist, Line2D):
                data.append(np.asarray(artist.get_xydata(), dtype=float))
            elif isinstance(artist, Collection):
                data.append(np.asarray(artist.get_offsets(), dtype=float))
                paths = artist.get_paths()
                data.extend(np.asarray(path.vertices, dtype=float) for path in paths)
            elif isinstance(artist, AxesImage):
                data.append(np.asarray(artist.get_array(), dtype=float))
            elif isinstance(artist, Rectangle) and artist is not ax.patch:
                data.append(np.array([artist.get_x(), artist.get_y(), artist.get_width(), artist.get_height()]))
    return data


def assert_reloads_to_same_plot(module, ds, tmp_path):
    path = save(ds, tmp_path / f"{module.NAME}.nc")
    reloaded = load(path)
    assert config_of(reloaded) == config_of(ds)
    original, redrawn = _drawn_data(module.plot(ds)), _drawn_data(module.plot(reloaded))
    assert len(original) == len(redrawn) > 0
    for a, b in zip(original, redrawn, strict=True):
        np.testing.assert_array_equal(a, b)
