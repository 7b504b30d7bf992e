"""Natural-image patches for learning V1-like generative models.

The preprocessing of the natural-image literature (van Hateren & van der Schaaf 1998;
Olshausen & Field 1996; Hyvarinen, Hurri & Hoyer 2009, ch. 5): grey-scale images, log
intensity, square patches at random positions, each patch's mean (DC) removed, then PCA
whitening that keeps only the D components of largest variance. For natural images those are
the low spatial frequencies, so the cut is also a low-pass filter that discards the noisy,
aliased highest frequencies before whitening would amplify them.

Intensities are read as fractions of the file's full range; the log uses an offset of 1/256 of
that range so that black pixels stay finite. Pixel units are natural-log intensity ("ln I").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis import _validation as check

# Photographs bundled inside scikit-image (no download): scenes, objects, animals and textures.
BUNDLED_IMAGES = ("astronaut", "brick", "camera", "chelsea", "coffee", "grass", "gravel", "moon", "rocket")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".iml")
# van Hateren & van der Schaaf (1998): 1536 x 1024 pixels, 16-bit big-endian, no header.
VAN_HATEREN_SHAPE = (1024, 1536)
LOG_OFFSET = 1 / 256


def _grey_fraction(image: np.ndarray, name: str) -> np.ndarray:
    """Grey-scale intensity as a fraction of the file's full range, float64 (rows, cols)."""
    image = np.asarray(image)
    if image.dtype == bool:
        raise ValueError(f"{name}: a binary image has no intensities")
    full_range = float(np.iinfo(image.dtype).max) if np.issubdtype(image.dtype, np.integer) else 1.0
    image = image.astype(float) / full_range
    if image.ndim == 3 and image.shape[2] in (3, 4):
        # ITU-R BT.709 luminance of the colour channels; an alpha channel is dropped.
        image = image[..., :3] @ np.array([0.2125, 0.7154, 0.0721])
    if image.ndim != 2:
        raise ValueError(f"{name}: expected a grey or RGB(A) image, got an array of shape {image.shape}")
    if not np.all(np.isfinite(image)) or image.min() < 0:
        raise ValueError(f"{name}: intensities must be finite and >= 0")
    return image


def bundled_images() -> dict[str, np.ndarray]:
    """The photographs in ``BUNDLED_IMAGES``, grey, as fractions of full range (offline)."""
    from skimage import data

    return {name: _grey_fraction(getattr(data, name)(), name) for name in BUNDLED_IMAGES}


def _read_van_hateren(path: Path) -> np.ndarray:
    raw = np.fromfile(path, dtype=">u2")
    if raw.size != VAN_HATEREN_SHAPE[0] * VAN_HATEREN_SHAPE[1]:
        raise ValueError(f"{path.name}: a van Hateren .iml file has {VAN_HATEREN_SHAPE[0] * VAN_HATEREN_SHAPE[1]} "
                         f"16-bit pixels, this one {raw.size} (truncated?)")
    return raw.reshape(VAN_HATEREN_SHAPE)


def read_images(folder) -> dict[str, np.ndarray]:
    """Every PNG, JPEG, TIFF and van Hateren ``.iml`` file in ``folder`` (not its subfolders),
    grey, as fractions of full range, keyed by file name. ValueError naming the folder when it
    holds no image file, and naming the file when one cannot be read."""
    import imageio.v3 as iio

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"images: {folder} is not a folder")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"images: {folder} holds no image file ({', '.join(IMAGE_SUFFIXES)})")
    images = {}
    for path in paths:
        if path.suffix.lower() == ".iml":
            image = _read_van_hateren(path)
        else:
            try:
                # From bytes, so that a plugin failing on a corrupt file leaves no file open.
                image = iio.imread(path.read_bytes(), extension=path.suffix.lower())
            except Exception as error:  # the image plugins raise many types for a corrupt file
                raise ValueError(f"{path.name}: cannot be read as an image ({type(error).__name__})") from None
        images[path.name] = _grey_fraction(image, path.name)
    return images


def log_intensity(image: np.ndarray) -> np.ndarray:
    """ln(I + 1/256), I the intensity as a fraction of full range."""
    return np.log(np.asarray(image, dtype=float) + LOG_OFFSET)


def extract_patches(images: dict[str, np.ndarray], size: int, count: int, rng: np.random.Generator):
    """``count`` square patches of ``size`` x ``size`` pixels of log intensity at uniformly
    random positions, the images chosen in proportion to the number of positions they offer,
    each patch's mean removed.

    Returns (patches (count, size * size) in ln I, row-major pixels; source (count,) index
    into the sorted image names; corner (count, 2) row and column; names).
    """
    size, count = check.count("size", size), check.count("count", count)
    names = sorted(images)
    if not names:
        raise ValueError("images: no image given")
    small = [name for name in names if min(images[name].shape) < size]
    if small:
        raise ValueError(f"images smaller than the patch size {size}: {', '.join(small)}")
    positions = np.array([(images[n].shape[0] - size + 1) * (images[n].shape[1] - size + 1) for n in names],
                         dtype=float)
    source = rng.choice(len(names), size=count, p=positions / positions.sum())
    corner = np.zeros((count, 2), dtype=np.int64)
    patches = np.empty((count, size * size))
    for index, name in enumerate(names):
        chosen = np.flatnonzero(source == index)
        if chosen.size == 0:
            continue
        image = log_intensity(images[name])
        rows = rng.integers(0, image.shape[0] - size + 1, chosen.size)
        cols = rng.integers(0, image.shape[1] - size + 1, chosen.size)
        corner[chosen] = np.stack([rows, cols], axis=1)
        windows = np.lib.stride_tricks.sliding_window_view(image, (size, size))
        patches[chosen] = windows[rows, cols].reshape(chosen.size, -1)
    patches -= patches.mean(axis=1, keepdims=True)
    return patches, source, corner, names


@dataclass(frozen=True)
class Whitening:
    """PCA whitening with a low-pass cut: y = W (x - mean), W = diag(variance)^-1/2 U^T over the
    D principal components of largest variance; x_low = mean + U diag(variance)^1/2 y.

    components : U, (pixels, D) orthonormal columns, largest variance first.
    variance : (D,) variance of the patches along each component, (ln I)^2.
    mean : (pixels,) mean patch (near 0 after DC removal).
    """

    components: np.ndarray
    variance: np.ndarray
    mean: np.ndarray

    def __post_init__(self):
        pixels, n_components = np.shape(self.components)
        if np.shape(self.variance) != (n_components,) or np.shape(self.mean) != (pixels,):
            raise ValueError("components (pixels, D), variance (D,) and mean (pixels,) must agree")
        if np.any(np.asarray(self.variance) <= 0):
            raise ValueError("variance must be > 0 for every kept component")

    @property
    def whitening_matrix(self) -> np.ndarray:
        """W, (D, pixels): whitened = (patch - mean) @ W.T."""
        return (self.components / np.sqrt(self.variance)).T

    @property
    def dewhitening_matrix(self) -> np.ndarray:
        """W^+, (pixels, D): low-passed patch = mean + whitened @ W^+.T."""
        return self.components * np.sqrt(self.variance)

    def whiten(self, patches) -> np.ndarray:
        return (np.asarray(patches, dtype=float) - self.mean) @ self.whitening_matrix.T

    def dewhiten(self, whitened) -> np.ndarray:
        return self.mean + np.asarray(whitened, dtype=float) @ self.dewhitening_matrix.T


def fit_whitening(patches, n_components: int) -> Whitening:
    """The PCA whitening of ``patches`` (N, pixels) keeping ``n_components`` components. After
    DC removal the patches span at most pixels - 1 dimensions, so at most that many can be
    kept."""
    patches = np.asarray(patches, dtype=float)
    if patches.ndim != 2 or patches.shape[0] < 2:
        raise ValueError("patches must be (N >= 2, pixels)")
    n_pixels = patches.shape[1]
    if not 1 <= n_components <= n_pixels - 1:
        raise ValueError(f"components must be in [1, {n_pixels - 1}] (pixels - 1, after DC removal), "
                         f"got {n_components}")
    mean = patches.mean(axis=0)
    covariance = np.cov(patches, rowvar=False)
    variance, vectors = np.linalg.eigh(covariance)
    order = np.argsort(variance)[::-1][:n_components]
    vectors = vectors[:, order]
    # A sign convention (largest entry positive), so the same patches give the same components.
    largest = np.argmax(np.abs(vectors), axis=0)
    vectors = vectors * np.sign(vectors[largest, np.arange(n_components)])
    return Whitening(vectors, variance[order], mean)


def gratings(size: int, count: int, rng: np.random.Generator, frequency_range=(0.05, 0.25)) -> np.ndarray:
    """Sinusoidal gratings (count, size * size), unit amplitude, DC removed: an artificial
    stimulus ensemble for Berkes et al.'s (2011) comparison. Orientation and phase uniform,
    spatial frequency uniform in ``frequency_range`` (cycles per pixel)."""
    size, count = check.count("size", size, 2), check.count("count", count)
    low, high = (float(f) for f in frequency_range)
    if not 0 < low <= high <= 0.5:
        raise ValueError(f"frequency_range must satisfy 0 < low <= high <= 0.5 cycles per pixel, got {frequency_range}")
    rows, columns = np.mgrid[0:size, 0:size].astype(float)
    theta = rng.uniform(0, np.pi, count)[:, None, None]
    frequency = rng.uniform(low, high, count)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, count)[:, None, None]
    waves = np.cos(2 * np.pi * frequency * (columns * np.cos(theta) + rows * np.sin(theta)) + phase)
    waves = waves.reshape(count, -1)
    return waves - waves.mean(1, keepdims=True)


def white_noise(size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white-noise patches (count, size * size), unit pixel variance, DC removed."""
    size, count = check.count("size", size, 2), check.count("count", count)
    noise = rng.standard_normal((count, size * size))
    return noise - noise.mean(1, keepdims=True)
