"""Training progress goes to stderr: stdout carries data (tables, --json) only."""

from edgesub.training.loop import _bar


def test_epoch_bar_writes_to_stderr_not_stdout(capsys):
    with _bar("teacher", 3, 0, enabled=True) as advance:
        for epoch in range(3):
            advance(f"val {epoch}")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "teacher" in captured.err and "3/3" in captured.err
