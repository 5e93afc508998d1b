"""Width and depth settings of every student, their parameter counts, and size matching."""

import pytest
import torch

from edgesub.distill.deployable import build_deployable
from edgesub.errors import ConfigError
from edgesub.students import build_student, count_params, deployed_params, width_for_params


def test_small_cnn_depth_adds_blocks_and_stops_pooling_at_one_pixel():
    two = build_student("small_cnn", 8, 16, (1, 28, 28))
    three = build_student("small_cnn", 8, 16, (1, 28, 28), depth=3)
    convs = [m for m in three.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 32]
    assert count_params(three) < count_params(two)  # the flattened map shrinks 49 → 9 pixels
    deep = build_student("small_cnn", 4, 16, (1, 8, 8), depth=5)  # 8 → 4 → 2 → 1 → 1 → 1
    assert deep(torch.zeros(2, 1, 8, 8)).shape == (2, 16)


def test_mobilenetv2_depth_is_the_number_of_stages():
    shallow = build_student("mobilenetv2", 8, 16, (1, 28, 28), depth=2)
    assert count_params(shallow) < count_params(build_student("mobilenetv2", 8, 16, (1, 28, 28)))
    with pytest.raises(ConfigError, match="5 stages"):
        build_student("mobilenetv2", 8, 16, (1, 28, 28), depth=6)


def test_text_transformer_depth_is_the_number_of_layers():
    one = build_student("text_transformer", 16, 8, (10,), depth=1, vocab_size=30)
    three = build_student("text_transformer", 16, 8, (10,), depth=3, vocab_size=30)
    assert (len(one.layers), len(three.layers)) == (1, 3)


def test_image_students_reject_token_shapes():
    with pytest.raises(ConfigError, match=r"\(C, H, W\)"):
        build_student("small_cnn", 8, 16, (12,))


def test_deployed_params_count_student_and_head():
    meta = {"arch": "small_cnn", "width": 8, "depth": 3, "k": 16}
    model = build_deployable({**meta, "input_shape": (1, 28, 28), "num_classes": 10})
    assert deployed_params("small_cnn", 8, 16, (1, 28, 28), 10, 3) == count_params(model)


@pytest.mark.parametrize("target", [20_000, 60_000])
def test_width_for_params_matches_a_size_within_ten_percent(target):
    width = width_for_params("small_cnn", target, 10, (1, 28, 28), 10)
    assert abs(deployed_params("small_cnn", width, 10, (1, 28, 28), 10) - target) <= 0.1 * target
