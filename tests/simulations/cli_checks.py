"""A check shared by the command-line tests: bad input is refused before any work."""

from simulations.cli import main


def assert_refused(argv, message, out, capsys):
    """``main(argv)`` exits with code 2 and a single ``error:`` line that holds ``message``, and
    writes nothing to ``out``."""
    code = None
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    assert code == 2, argv
    error = capsys.readouterr().err
    assert error.startswith("error:") and message in error and error.count("\n") == 1, (argv, error)
    assert not out.exists()
