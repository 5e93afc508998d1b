"""Native libraries' routine notices are held back from the console; their real errors are not."""

import os
import sys

from edgesub.native_logs import is_noise, native_noise_filtered


def test_notices_are_dropped_and_other_native_lines_replayed(capfd):
    with native_noise_filtered():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"E0000 something real went wrong\n")
        os.write(
            2,
            b"WARNING: All log messages before absl::InitializeLog() is called are written "
            b"to STDERR\n",
        )
    err = capfd.readouterr().err
    assert "XNNPACK" not in err and "absl" not in err
    assert "E0000 something real went wrong" in err


def test_python_stderr_is_not_held_back(capfd):
    with native_noise_filtered():
        print("progress from python", file=sys.stderr, flush=True)
        os.write(2, b"late native line\n")
        early = capfd.readouterr().err
    assert early == "progress from python\n"  # written during the block, not after it
    assert capfd.readouterr().err == "late native line\n"


def test_descriptor_2_and_sys_stderr_are_restored_after_an_error(capfd):
    before = sys.stderr
    try:
        with native_noise_filtered():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert sys.stderr is before
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_absl_info_records_are_notices_but_warnings_and_errors_are_not():
    info = (
        "I0000 00:00:1796123948.828736   15192 flatbuffer_export.cc:4410] Estimated count of "
        "arithmetic ops: 0.050 M  ops, equivalently 0.025 M MACs"
    )
    assert is_noise(info)
    assert not is_noise(info.replace("I0000", "W0000", 1))
    assert not is_noise(info.replace("I0000", "E0000", 1))


def test_is_noise_matches_whole_notices_only():
    assert is_noise("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
    assert not is_noise("INFO: Created TensorFlow Lite XNNPACK delegate for CPU. But then: error")
    assert not is_noise("RuntimeError: tensor shape mismatch")


def test_a_logging_handler_made_in_the_block_still_writes_after_it(capfd):
    """A library imported inside the block (transformers, in the export worker) sets up its
    StreamHandler on the sys.stderr of the moment; a later record must reach stderr, not a
    closed file ("--- Logging error ---" and a stack, as the hf text export printed)."""
    import logging

    logger = logging.getLogger("edgesub.test.handler_in_block")
    logger.propagate = False
    with native_noise_filtered():
        handler = logging.StreamHandler()  # default stream: sys.stderr, the block's
        logger.addHandler(handler)
    try:
        logger.warning("after the block")
    finally:
        logger.removeHandler(handler)
    err = capfd.readouterr().err
    assert "Logging error" not in err
    assert "after the block" in err
