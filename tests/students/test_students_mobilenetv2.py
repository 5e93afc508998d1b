"""The MobileNetV2-style student: shapes on digits and MNIST-sized inputs, size, export parity."""

import numpy as np
import pytest
import torch

from edgesub.config import ConvertConfig
from edgesub.converters.calibration import ArrayData, ArraySplit
from edgesub.students import build_student
from edgesub.students.mobilenetv2 import InvertedResidual


def params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28)])
def test_outputs_k_dims_and_stays_small(shape):
    student = build_student("mobilenetv2", 8, 32, shape).eval()
    assert student(torch.zeros(2, *shape)).shape == (2, 32)
    assert 10_000 <= params(student) <= 40_000


def test_width_is_the_stem_channels_and_scales_every_stage():
    half = build_student("mobilenetv2", 16, 32, (1, 8, 8))
    assert half.features[0].out_channels == 16
    assert params(build_student("mobilenetv2", 8, 32, (1, 8, 8))) < params(half)


def test_strides_stop_at_a_2x2_map_on_8x8_inputs():
    student = build_student("mobilenetv2", 8, 32, (1, 8, 8)).eval()
    x = torch.zeros(1, 1, 8, 8)
    sizes = []
    for layer in student.features:
        x = layer(x)
        if isinstance(layer, InvertedResidual):
            sizes.append(x.shape[-1])
    assert min(sizes) == 2 and sizes[-1] == 2
    assert any(block.residual for block in student.features if isinstance(block, InvertedResidual))


def test_onnx_fp32_export_matches_torch(tmp_path):
    from edgesub.converters import convert

    torch.manual_seed(0)
    student = build_student("mobilenetv2", 8, 10, (1, 8, 8)).eval()
    x = np.random.default_rng(0).standard_normal((40, 1, 8, 8)).astype(np.float32)
    data = ArrayData(ArraySplit(x[:20], None), ArraySplit(x[20:], None), (1, 8, 8), 10)
    cfg = ConvertConfig(formats=("onnx",), precisions=("fp32",))
    (entry,) = convert(student, data, tmp_path, cfg, progress=False, measure_latency=False)
    assert entry["parity"]["passed"] and entry["parity"]["max_abs_diff"] <= 1e-4
