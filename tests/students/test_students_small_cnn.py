import pytest
import torch

from edgesub.errors import ConfigError
from edgesub.students import STUDENTS, build_student


def test_small_cnn_outputs_k_dims_with_about_9k_params():
    student = build_student("small_cnn", 16, 32, (1, 8, 8))
    assert student(torch.zeros(3, 1, 8, 8)).shape == (3, 32)
    assert 5_000 <= sum(p.numel() for p in student.parameters()) <= 15_000


def test_width_scales_parameters():
    small = build_student("small_cnn", 8, 32, (1, 8, 8))
    big = build_student("small_cnn", 16, 32, (1, 8, 8))
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in big.parameters())


def test_student_with_wrong_output_width_is_rejected():
    if "_wrong_width" not in STUDENTS:
        STUDENTS.add("_wrong_width", lambda width, k, shape, depth: torch.nn.Linear(8, k + 1))
    with pytest.raises(ConfigError, match=r"expected \(4,\)"):
        build_student("_wrong_width", 8, 4, (1, 8, 8))
