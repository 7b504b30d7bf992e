"""Protocols are data: shapes, timing, units, and refusals of bad durations."""

import numpy as np
import pytest

from simulations.protocols import contrast_series, repeated_presentations, spontaneous, stimulus_onset


def test_stimulus_onset_is_blank_then_stimulus():
    stimuli = np.array([[1.0, -2.0], [0.5, 0.5], [3.0, 0.0]])
    ds = stimulus_onset(stimuli, blank=0.01, duration=0.02, dt=0.001)
    assert ds["input"].dims == ("stimulus", "time", "obs") and ds["input"].shape == (3, 30, 2)
    np.testing.assert_allclose(ds["time"].values, (np.arange(30) - 10) * 0.001)
    assert np.all(ds["input"].values[:, :10] == 0)
    np.testing.assert_array_equal(ds["input"].values[:, 10:], np.repeat(stimuli[:, None], 20, axis=1))
    assert ds["evoked"].values.sum() == 20 and ds["time"].attrs["units"] == "s"


def test_contrast_series_scales_one_image():
    ds = contrast_series([1.0, 2.0], [0.0, 0.5, 2.0], duration=0.005, dt=0.001)
    np.testing.assert_allclose(ds["input"].values[:, 3], [[0, 0], [0.5, 1.0], [2.0, 4.0]])
    np.testing.assert_array_equal(ds["contrast"].values, [0.0, 0.5, 2.0])


def test_repeats_are_identical_and_spontaneous_is_silent():
    ds = repeated_presentations([0.3, -0.1, 2.0], n_repeats=4, duration=0.003)
    assert ds["input"].shape == (4, 3, 3) and np.all(ds["input"].values == ds["input"].values[0])
    quiet = spontaneous(n_obs=5, n_trials=2, duration=0.01)
    assert quiet["input"].shape == (2, 10, 5) and not quiet["input"].values.any()
    assert all(ds[name].attrs["units"] for name in list(ds.variables))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: stimulus_onset([[1.0]], blank=0.0105, dt=0.001), "blank"),
        (lambda: stimulus_onset([[1.0]], duration=0.0), "duration"),
        (lambda: stimulus_onset([1.0]), "stimuli"),
        (lambda: contrast_series([1.0], [-1.0]), "contrasts"),
        (lambda: contrast_series([np.nan], [1.0]), "image"),
        (lambda: repeated_presentations([1.0], n_repeats=0), "n_repeats"),
        (lambda: spontaneous(n_obs=2, dt=0.0), "dt"),
    ],
)
def test_bad_protocol_arguments_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
