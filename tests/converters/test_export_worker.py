"""TFLite exports in a worker process: results and errors come back; Ctrl-C kills it at once."""

import signal
import threading
import time

import numpy as np
import pytest

from edgesub.config import ConvertConfig
from edgesub.converters.export_worker import export_worker
from edgesub.converters.formats import ExportJob

torch = pytest.importorskip("torch")
pytest.importorskip("litert_torch")


def _job(shape=(1, 1, 8, 8)) -> ExportJob:
    sample = np.zeros(shape, np.float32)
    return ExportJob(sample=sample, calibration=sample.repeat(4, 0), cfg=ConvertConfig())


def _model():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()


def test_the_worker_writes_the_file_and_sends_back_errors(tmp_path):
    from edgesub.converters.tflite_export import export_fp32

    with export_worker() as worker:
        worker.run(export_fp32, _model(), _job(), tmp_path / "m.tflite")
        assert worker.running
        assert (tmp_path / "m.tflite").read_bytes()[4:8] == b"TFL3"
        with pytest.raises(Exception, match=r"(?i)shape|size|mat"):
            worker.run(export_fp32, _model(), _job((1, 3, 5, 5)), tmp_path / "bad.tflite")
    assert not (tmp_path / "bad.tflite").exists()


def test_ctrl_c_while_the_worker_exports_kills_it_at_once(tmp_path):
    from edgesub.converters.tflite_export import export_fp32

    threading.Timer(1.0, signal.raise_signal, (signal.SIGINT,)).start()
    with export_worker() as worker:
        worker.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            worker.run(export_fp32, _model(), _job(), tmp_path / "m.tflite")
        assert time.monotonic() - started < 2.5
        assert not worker.running  # killed and reaped
