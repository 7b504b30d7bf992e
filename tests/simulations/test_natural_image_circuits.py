"""`sampling-circuits run natural-images`: circuits trained on whitened patches under a model
learned from them, their basis functions beside ICA's and a random control, and the refusals."""

import pytest

from simulations.cli import main
from simulations.natural_image_circuits import run_natural_images
from simulations.natural_images import make_patches
from simulations.results import load, save


@pytest.fixture(scope="module")
def patches(tmp_path_factory):
    path = tmp_path_factory.mktemp("patches") / "patches.nc"
    save(make_patches(0, size=8, n_patches=2500, n_components=12), path)
    return path


@pytest.mark.parametrize("kwargs, match", [
    (dict(model="ica"), "model"),
    (dict(model="gsm", n_latent=8), "n_latent \\(8\\) must equal the components used \\(12\\)"),
    (dict(learn_precision=True), "--learn-precision"),
    (dict(n_components=13), "n_components must be at most the file's 12"),
    (dict(n_train=2490, n_test=16), "exceeds the file's 2500 patches"),
    (dict(active_fraction=1.0), "active_fraction"),
    (dict(noise_std=2.0), "noise_std 2.0 explains all the data's variance"),
])
def test_bad_options_are_refused_before_training(patches, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_natural_images(1, load(patches), **{"n_train": 2000, **kwargs})


def test_the_command_refuses_a_file_that_is_not_patches(tmp_path, capsys):
    from simulations.results import new_dataset, variable

    not_patches = save(new_dataset({"value": variable((), 1.0, "1")}, None, {"seed": 1, "experiment": "gsm"}, "gsm"),
                       tmp_path / "gsm.nc")
    assert main(["run", "natural-images", "--patches", str(not_patches), "--seed", "1",
                 "--out", str(tmp_path / "o.nc")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error:") and "gsm" in error and not (tmp_path / "o.nc").exists()
