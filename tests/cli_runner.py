"""Running `madata` in-process from a test, and the one-line-error check every CLI test makes."""

from __future__ import annotations


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `madata ARGS...` run through the real click group."""
    from madatasets.cli import cli
    try:
        cli.main(list(args))
        code = 0
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, expected: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("madata: error:"), err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err
