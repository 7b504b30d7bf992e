"""The implicit-EM and AGOP experiments: the issue's acceptance figures, read from their files.

No statistical tolerance: both experiments are deterministic from their seeds (full-batch EM
and gradient training, exact identities); their bars are the issue's, with the spread across
seeds of the AGOP networks measured in tests/analysis/test_agop.py."""

import numpy as np
import pytest

from simulations.cli import main
from simulations.results import config_of, load


@pytest.fixture(scope="module")
def implicit_em(tmp_path_factory):
    folder = tmp_path_factory.mktemp("implicit-em")
    assert main(["run", "implicit-em", "--seed", "1", "--out", str(folder / "iem.nc"),
                 "--plot", str(folder / "iem.png"), "--quiet"]) == 0
    assert (folder / "iem.png").stat().st_size > 0
    return load(folder / "iem.nc")


def test_identity_and_its_classical_companions(implicit_em):
    ds = implicit_em
    assert ds["components"].values.tolist() == list(range(2, 11))
    assert np.all(ds["identity_error"].values < 1e-6)
    assert float(ds["xu_jordan_error"]) < 1e-8
    assert float(ds["sigmoid_control_deviation"]) > 0.1  # the negative control fails the identity


def test_gradient_training_reaches_em_and_em_escapes_first(implicit_em):
    ds = implicit_em
    assert float(ds["final_relative_gap"]) < 0.01
    assert ds["em_log_likelihood"].attrs["units"] == "nats"
    escape = ds["gradient_escape_iterations"]
    assert float(ds["em_escape_iterations"]) < escape.sel(learning_rate=0.1)
    assert float(ds["em_escape_iterations"]) < escape.sel(learning_rate=1.0)
    assert config_of(ds)["experiment"] == "implicit-em"


def test_agop_experiment_with_a_trained_circuit(tmp_path):
    rate_file = tmp_path / "gsm.nc"
    assert main(["run", "gsm", "--seed", "1", "--steps", "50", "--samples", "20", "--test-stimuli", "3",
                 "--out", str(rate_file), "--quiet"]) == 0
    out = tmp_path / "agop.nc"
    assert main(["run", "agop", "--seed", "2", "--from", str(rate_file), "--out", str(out), "--quiet"]) == 0
    ds = load(out)
    np.testing.assert_allclose(ds["linear_best_exponent"].values, [0.5, 0.35], atol=1e-9)  # grid nearest to 1/3
    assert np.all(ds["linear_correlation"].max("exponent").values > 0.99)
    init = ds["relu_correlation_init"].sel(relu_exponent=0.5)
    trained = ds["relu_correlation_trained"].sel(relu_exponent=0.5)
    assert 1 - trained < 0.5 * (1 - init)
    assert float(ds["relu_top_direction_cosine"]) > 0.9 and float(ds["rfm_top_direction_cosine"]) > 0.9
    assert ds["rfm_test_error"].values[-1] < ds["rfm_test_error"].values[0]
    assert ds["variability_agop"].dims == ("circuit_input", "circuit_input_")
    # Recomputed from the two files: the top direction is the AGOP's leading eigenvector, and its
    # share inside span(A) is its squared projection on an orthonormal basis of A's columns.
    eigenvalues, eigenvectors = np.linalg.eigh(ds["variability_agop"].values)
    top = ds["variability_top_direction"].values
    assert abs(top @ eigenvectors[:, -1]) == pytest.approx(1.0, abs=1e-9)
    basis = np.linalg.qr(load(rate_file)["A"].values)[0]
    assert float(ds["variability_top_in_span_A"]) == pytest.approx(np.sum((basis.T @ top) ** 2), abs=1e-9)


def test_an_ungated_circuit_has_input_independent_variability(tmp_path):
    from simulations.learning_experiments import _circuit_variability_agop

    rate_file = tmp_path / "lg.nc"
    assert main(["run", "linear-gaussian", "--seed", "1", "--steps", "20", "--samples", "5", "--test-stimuli", "4",
                 "--out", str(rate_file), "--quiet"]) == 0
    data_vars, _, _ = _circuit_variability_agop(rate_file)
    np.testing.assert_array_equal(data_vars["variability_agop"].values, 0.0)
    assert "variability_top_direction" not in data_vars
