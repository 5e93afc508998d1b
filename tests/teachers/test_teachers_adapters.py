import numpy as np
import pytest
import torch

from edgesub.errors import ConfigError, ModelFileError
from edgesub.teachers.adapter import ModuleTeacher
from edgesub.teachers.efficientnet import efficientnet_teacher, load_efficientnet_lite0
from edgesub.teachers.finetune import finetune_tail, run_in_batches
from edgesub.teachers.minilm import MiniLM
from edgesub.teachers.wide_cnn import WideCNN
from edgesub.teachers.wide_mlp import WideMLP


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return WideCNN(48, (1, 8, 8), 10).eval()


def test_named_layer_hook_matches_the_models_own_features(cnn):
    x = torch.randn(4, 1, 8, 8)
    teacher = ModuleTeacher(cnn, "body")
    with torch.no_grad():
        assert torch.allclose(teacher.features(x), cnn.features(x))
        conv = ModuleTeacher(cnn, "body.3").features(x)  # 4-D map → mean over H, W
    assert conv.shape == (4, 128)


def test_callable_layer_is_used_as_is(cnn):
    teacher = ModuleTeacher(cnn, lambda m, x: m.body[:2](x))
    with torch.no_grad():
        assert teacher.features(torch.randn(3, 1, 8, 8)).shape == (3, 32)


def test_unknown_layer_lists_candidates(cnn):
    with pytest.raises(
        ConfigError, match=r"feature layer 'body\.99' not found in WideCNN; candidates: body"
    ):
        ModuleTeacher(cnn, "body.99")


def test_efficientnet_lite0_imagenet_features_and_trunk_split():
    teacher = efficientnet_teacher(10, [0.1], [0.3], image_size=32).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        h = teacher.features(x)
        start = teacher.num_blocks - 3
        split = teacher.tail_features(teacher.prefix(x, start), start)
    assert h.shape == (2, 1280) and torch.isfinite(h).all() and h.abs().sum() > 0
    assert torch.allclose(h, split, atol=1e-5)
    assert teacher(x).shape == (2, 10)


def test_efficientnet_bad_weights_file_is_a_model_file_error(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match=r"EfficientNet-Lite0 weights .*w\.pth is not a torch"):
        load_efficientnet_lite0(str(tmp_path / "w.pth"))


def test_minilm_embeddings_are_unit_norm_and_semantic():
    model = MiniLM()
    h = model.features(["a wonderful, moving film", "a great and touching movie", "tax forms"])
    assert h.shape == (3, 384) and np.allclose(np.linalg.norm(h, axis=1), 1.0, atol=1e-5)
    assert h[0] @ h[1] > h[0] @ h[2] + 0.2


def test_finetune_tail_learns_and_keeps_the_best_validation_weights():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(600, 16, generator=gen)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    mlp = WideMLP(16, 32, 2, width=64)
    result = finetune_tail(mlp, mlp, (x[:400], y[:400]), (x[400:], y[400:]), epochs=20, lr=1e-2)
    pred = run_in_batches(mlp, x[400:]).argmax(dim=1)
    assert result["val_accuracy"] == pytest.approx(100.0 * float((pred == y[400:]).float().mean()))
    assert result["val_accuracy"] > 90


def test_efficientnet_weights_that_do_not_fit_are_one_line(tmp_path):
    torch.save({"stem.weight": torch.zeros(2)}, tmp_path / "w.pt")
    with pytest.raises(ModelFileError, match="cannot load EfficientNet-Lite0 weights") as caught:
        load_efficientnet_lite0(str(tmp_path / "w.pt"))
    assert "\n" not in str(caught.value)
