"""Console helpers: transient bars only where they can be erased."""

from edgesub import console


def test_transient_bar_is_skipped_off_a_terminal(capfd):
    items = range(3)
    assert not console.err.is_terminal  # pytest captures stderr
    assert console.transient_track(items, "features train") is items
    assert list(console.transient_track(items, "x", enabled=False)) == [0, 1, 2]
    assert capfd.readouterr().err == ""  # no empty line left behind in a log
