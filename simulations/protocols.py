"""Trial structures used in the field, as data: each protocol is a Dataset of inputs over time.

Every protocol returns an ``xarray.Dataset`` with one variable ``input`` whose last two dims
are ``time`` (seconds, the step's start) and ``obs`` (input dimension), plus whatever
condition dims the protocol has (``stimulus``, ``contrast``, ``repeat``, ``trial``). The
experiment that runs a protocol reads only ``input`` and ``time``; a new trial structure is
a new function here, not a new code path in the circuits.

- ``stimulus_onset``: a blank, then the stimulus (variability quenching at onset:
  Churchland et al. 2010).
- ``contrast_series``: one image at several contrasts (Orban et al. 2016).
- ``repeated_presentations``: the same input many times (noise vs signal variability).
- ``spontaneous``: no input at all (spontaneous activity vs the prior: Berkes et al. 2011).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from circuits._validation import count, positive, steps

__all__ = ["stimulus_onset", "contrast_series", "repeated_presentations", "spontaneous", "PROTOCOLS"]


def _images(name: str, images, ndim: int) -> np.ndarray:
    images = np.asarray(images, dtype=float)
    if images.ndim != ndim or images.size == 0 or not np.all(np.isfinite(images)):
        raise ValueError(f"{name} must be a finite, non-empty array with {ndim} dimension(s); got shape {images.shape}")
    return images


def _dataset(values: np.ndarray, condition_dims: dict, time: np.ndarray, protocol: str, dt: float, **attrs):
    dims = (*condition_dims, "time", "obs")
    coords = {name: (name, np.asarray(value), {"units": units}) for name, (value, units) in condition_dims.items()}
    coords["time"] = ("time", time, {"units": "s", "description": "start of each step"})
    coords["obs"] = ("obs", np.arange(values.shape[-1]), {"units": "1", "description": "input dimension"})
    return xr.Dataset({"input": (dims, values, {"units": "1", "description": "input x(t) to the circuit"})},
                      coords=coords, attrs={"protocol": protocol, "dt_s": dt, **attrs})


def stimulus_onset(stimuli, blank: float = 0.2, duration: float = 0.5, dt: float = 0.001) -> xr.Dataset:
    """Blank (x = 0) for ``blank`` seconds, then each stimulus for ``duration`` seconds.

    stimuli : (S, D) inputs. Time runs from -blank to duration - dt; onset is at t = 0.
    Returns ``input`` (stimulus, time, obs) and ``evoked`` (time), 1 after onset.
    """
    dt = positive("dt", dt)
    stimuli = _images("stimuli", stimuli, 2)
    n_blank, n_on = steps("blank", blank, dt, 0), steps("duration", duration, dt)
    time = (np.arange(n_blank + n_on) - n_blank) * dt
    evoked = time >= -0.5 * dt
    values = np.where(evoked[None, :, None], stimuli[:, None, :], 0.0)
    ds = _dataset(values, {"stimulus": (np.arange(len(stimuli)), "1")}, time, "stimulus_onset", dt, onset_s=0.0)
    ds["evoked"] = ("time", evoked.astype(np.uint8), {"units": "1", "description": "1 from stimulus onset on"})
    return ds


def contrast_series(image, contrasts, duration: float = 0.5, dt: float = 0.001) -> xr.Dataset:
    """The image scaled by each contrast c (x = c * image), held for ``duration`` seconds.

    Returns ``input`` (contrast, time, obs).
    """
    dt = positive("dt", dt)
    image = _images("image", image, 1)
    contrasts = _images("contrasts", contrasts, 1)
    if np.any(contrasts < 0):
        raise ValueError("contrasts must be >= 0")
    n_steps = steps("duration", duration, dt)
    values = np.broadcast_to(contrasts[:, None, None] * image[None, None, :], (contrasts.size, n_steps, image.size))
    return _dataset(np.array(values), {"contrast": (contrasts, "1")}, np.arange(n_steps) * dt, "contrast_series", dt)


def repeated_presentations(stimulus, n_repeats: int, duration: float = 0.5, dt: float = 0.001) -> xr.Dataset:
    """The same input shown ``n_repeats`` times (independent trials): any response variability
    across repeats is noise, not signal. Returns ``input`` (repeat, time, obs)."""
    dt = positive("dt", dt)
    stimulus = _images("stimulus", stimulus, 1)
    n_repeats = count("n_repeats", n_repeats, 1)
    n_steps = steps("duration", duration, dt)
    values = np.broadcast_to(stimulus, (n_repeats, n_steps, stimulus.size))
    return _dataset(np.array(values), {"repeat": (np.arange(n_repeats), "1")}, np.arange(n_steps) * dt,
                    "repeated_presentations", dt)


def spontaneous(n_obs: int, n_trials: int = 1, duration: float = 1.0, dt: float = 0.001) -> xr.Dataset:
    """No input (x = 0) for ``duration`` seconds in each of ``n_trials`` trials.

    Returns ``input`` (trial, time, obs), all zeros."""
    dt = positive("dt", dt)
    n_obs, n_trials = count("n_obs", n_obs, 1), count("n_trials", n_trials, 1)
    n_steps = steps("duration", duration, dt)
    return _dataset(np.zeros((n_trials, n_steps, n_obs)), {"trial": (np.arange(n_trials), "1")},
                    np.arange(n_steps) * dt, "spontaneous", dt)


PROTOCOLS = {"stimulus_onset": stimulus_onset, "contrast_series": contrast_series,
             "repeated_presentations": repeated_presentations, "spontaneous": spontaneous}
