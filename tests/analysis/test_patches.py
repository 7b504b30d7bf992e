"""Natural-image patches and their whitening, against values computed independently.

False alarms: the source-image frequencies are within 5 binomial SE of their exact
proportions (two-sided 6e-7 each); the held-out whitened covariance is within 5.5 SE of the
identity per entry, the SE from the products' own spread (heavy tails included): 4e-8 per
entry, under 1e-4 for the 2080 entries, plus a small allowance for the whitening being
estimated from 20000 patches (its relative error, about 1 / sqrt(20000), is a seventh of the
held-out SE). Everything else is exact. Seeds are fixed, so a run is never flaky."""

import numpy as np
import pytest

from analysis.patches import (
    LOG_OFFSET,
    Whitening,
    _grey_fraction,
    bundled_images,
    extract_patches,
    fit_whitening,
    log_intensity,
    read_images,
)


@pytest.fixture(scope="module")
def bundled_patches():
    patches, source, corner, names = extract_patches(bundled_images(), 16, 30_000, np.random.default_rng(0))
    return patches, names


def test_a_patch_is_the_log_intensity_window_less_its_mean():
    rng = np.random.default_rng(1)
    images = {"b.png": rng.uniform(0, 1, (20, 30)), "a.png": rng.uniform(0, 1, (12, 9))}
    patches, source, corner, names = extract_patches(images, 5, 40, np.random.default_rng(2))
    assert names == ["a.png", "b.png"] and patches.shape == (40, 25)
    for patch, index, (row, col) in zip(patches, source, corner, strict=True):
        window = np.log(images[names[index]][row:row + 5, col:col + 5] + LOG_OFFSET).reshape(-1)
        np.testing.assert_allclose(patch, window - window.mean(), atol=1e-12)
    np.testing.assert_allclose(log_intensity(np.array([0.0, 1.0])), np.log([1 / 256, 1 + 1 / 256]))


def test_images_are_drawn_in_proportion_to_the_positions_they_offer():
    images = {"big": np.ones((40, 40)), "small": np.ones((13, 13))}
    _, source, corner, _ = extract_patches(images, 4, 20_000, np.random.default_rng(3))
    share = (37 * 37) / (37 * 37 + 10 * 10)
    standard_error = np.sqrt(share * (1 - share) / 20_000)
    assert abs(np.mean(source == 0) - share) < 5 * standard_error
    assert corner[source == 1].max() == 9 and corner[source == 0].max() == 36 and corner.min() == 0


def test_grey_conversion_scales_by_the_full_range_and_weights_the_channels():
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[0, 0] = [255, 0, 0]
    rgb[1, 1] = [0, 0, 255]
    grey = _grey_fraction(rgb, "x")
    np.testing.assert_allclose(grey, [[0.2125, 0.0], [0.0, 0.0721]])
    np.testing.assert_allclose(_grey_fraction(np.full((2, 2), 65535, dtype=np.uint16), "x"), 1.0)
    with pytest.raises(ValueError, match="x: a binary image"):
        _grey_fraction(np.ones((3, 3), dtype=bool), "x")


def test_whitening_is_exact_in_sample_and_within_standard_errors_on_held_out_patches(bundled_patches):
    patches, _ = bundled_patches
    whitening = fit_whitening(patches[:20_000], 64)
    np.testing.assert_allclose(whitening.components.T @ whitening.components, np.eye(64), atol=1e-10)
    assert np.all(np.diff(whitening.variance) <= 0)
    in_sample = whitening.whiten(patches[:20_000])
    np.testing.assert_allclose(np.cov(in_sample, rowvar=False), np.eye(64), atol=1e-8)
    held_out = whitening.whiten(patches[20_000:])
    products = held_out[:, :, None] * held_out[:, None, :]
    z = (products.mean(0) - np.eye(64)) / (products.std(0, ddof=1) / np.sqrt(len(held_out)))
    assert np.abs(z[np.triu_indices(64)]).max() < 5.5


def test_dewhitening_inverts_the_whitening_up_to_the_low_pass_cut(bundled_patches):
    patches, _ = bundled_patches
    full = fit_whitening(patches[:5000], 255)  # every component a DC-free 16 x 16 patch has
    np.testing.assert_allclose(full.dewhiten(full.whiten(patches[:500])), patches[:500], atol=1e-10)
    # Stored as float32, the whitened values reconstruct the patch to float32 precision.
    stored = full.whiten(patches[:500]).astype(np.float32)
    scale = np.abs(patches[:500]).max()
    assert np.abs(full.dewhiten(stored) - patches[:500]).max() < 2e-6 * scale
    low = fit_whitening(patches[:5000], 64)
    projection = low.components @ low.components.T
    expected = low.mean + (patches[:500] - low.mean) @ projection
    np.testing.assert_allclose(low.dewhiten(low.whiten(patches[:500])), expected, atol=1e-10)


def test_the_kept_components_are_the_low_spatial_frequencies(bundled_patches):
    """Natural images have a 1/f amplitude spectrum (Field 1987), so the components of largest
    variance are the smooth ones: the cut at 64 components is a low-pass filter."""
    patches, _ = bundled_patches
    components = fit_whitening(patches[:20_000], 255).components.T.reshape(255, 16, 16)
    frequency = np.hypot(*np.meshgrid(np.fft.fftfreq(16), np.fft.fftfreq(16), indexing="ij"))
    power = np.abs(np.fft.fft2(components)) ** 2
    mean_frequency = (power * frequency).sum((1, 2)) / power.sum((1, 2))
    assert mean_frequency[:64].max() < np.median(mean_frequency[64:])
    assert mean_frequency[:64].mean() < 0.5 * mean_frequency[64:].mean()


def test_read_images_reads_png_tiff_and_van_hateren_files(tmp_path):
    from skimage import io

    grey = (np.arange(20 * 30).reshape(20, 30) % 256).astype(np.uint8)
    io.imsave(tmp_path / "a.png", grey, check_contrast=False)
    io.imsave(tmp_path / "c.tif", grey.astype(np.uint16) * np.uint16(256), check_contrast=False)
    raw = (np.arange(1024 * 1536) % 4096).astype(">u2")
    raw.tofile(tmp_path / "b.iml")
    (tmp_path / "notes.txt").write_text("not an image")
    images = read_images(tmp_path)
    assert sorted(images) == ["a.png", "b.iml", "c.tif"]
    np.testing.assert_allclose(images["a.png"], grey / 255)
    np.testing.assert_allclose(images["c.tif"], grey.astype(float) * 256 / 65535)
    np.testing.assert_allclose(images["b.iml"], raw.reshape(1024, 1536) / 65535)


@pytest.mark.parametrize("write, match", [
    (lambda folder: None, "holds no image file"),
    (lambda folder: (folder / "x.txt").write_text("no"), "holds no image file"),
    (lambda folder: (folder / "broken.png").write_bytes(b"\x89PNG not really"), "broken.png: cannot be read"),
    (lambda folder: np.zeros(100, dtype=">u2").tofile(folder / "short.iml"), r"short.iml: .*truncated"),
])
def test_unreadable_folders_and_files_are_named(tmp_path, write, match):
    write(tmp_path)
    with pytest.raises(ValueError, match=match):
        read_images(tmp_path)


def test_bad_patch_requests_are_refused():
    images = {"tiny.png": np.ones((8, 8)), "fine.png": np.ones((40, 40))}
    with pytest.raises(ValueError, match="smaller than the patch size 16: tiny.png"):
        extract_patches(images, 16, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="components must be in"):
        fit_whitening(np.random.default_rng(0).normal(size=(50, 16)), 16)
    with pytest.raises(ValueError, match="variance must be > 0"):
        Whitening(np.eye(3)[:, :2], np.array([1.0, 0.0]), np.zeros(3))


def test_artificial_ensembles_have_no_dc_and_their_stated_amplitude():
    from analysis.patches import gratings, white_noise

    rng = np.random.default_rng(5)
    waves = gratings(16, 200, rng, frequency_range=(0.1, 0.2))
    assert waves.shape == (200, 256)
    np.testing.assert_allclose(waves.mean(1), 0, atol=1e-12)
    assert np.abs(waves).max() <= 2.0 + 1e-12  # a unit cosine, its mean removed
    noise = white_noise(16, 400, rng)
    np.testing.assert_allclose(noise.mean(1), 0, atol=1e-12)
    # Pixel variance (1 - 1/256) after the mean is removed; SE of the pooled variance sqrt(2 / n).
    assert abs(noise.var() - (1 - 1 / 256)) < 5 * np.sqrt(2 / noise.size)
    with pytest.raises(ValueError, match="frequency_range"):
        gratings(8, 2, rng, frequency_range=(0.1, 0.6))
