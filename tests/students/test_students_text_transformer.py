"""The text student: token ids in, k dims out, padding ignored."""

from __future__ import annotations

import pytest
import torch

from edgesub.errors import ConfigError
from edgesub.students import STUDENTS, build_student


def test_text_transformer_is_registered_and_outputs_k_dims() -> None:
    assert "text_transformer" in STUDENTS
    student = build_student("text_transformer", 32, 16, (12,), vocab_size=50).eval()
    ids = torch.randint(2, 50, (3, 12))
    assert student(ids).shape == (3, 16)
    params = sum(p.numel() for p in student.parameters())
    assert params < 50_000  # embedding 1.6k + positions 0.4k + 2 layers ~17k + fc


def test_padding_is_ignored_by_attention_and_pooling() -> None:
    """A padded sequence gives what the same model, cut to the text's length, gives unpadded."""
    torch.manual_seed(0)
    padded = build_student("text_transformer", 32, 8, (10,), vocab_size=40).eval()
    short = build_student("text_transformer", 32, 8, (3,), vocab_size=40).eval()
    state = padded.state_dict()
    state["positions"] = state["positions"][:, :3]
    short.load_state_dict(state)
    with torch.no_grad():
        out_padded = padded(torch.tensor([[5, 6, 7, 0, 0, 0, 0, 0, 0, 0]]))
        out_short = short(torch.tensor([[5, 6, 7]]))
        changed = padded(torch.tensor([[5, 6, 8, 0, 0, 0, 0, 0, 0, 0]]))
    torch.testing.assert_close(out_padded, out_short, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out_padded, changed)


def test_rejects_image_shapes_and_bad_widths() -> None:
    with pytest.raises(ConfigError, match="token ids"):
        build_student("text_transformer", 32, 8, (1, 8, 8))
    with pytest.raises(ConfigError, match="divisible by 4"):
        build_student("text_transformer", 30, 8, (12,))
