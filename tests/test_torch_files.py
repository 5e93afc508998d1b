"""Torch files: a full disk and a pickle that names code each end in one line saying what to do."""

import os

import pytest

torch = pytest.importorskip("torch")

from edgesub.errors import EdgesubError, ModelFileError  # noqa: E402
from edgesub.torch_files import load_weights, save_torch  # noqa: E402


class _Payload:
    """What a hostile checkpoint holds: unpickling it would call os.system."""

    def __reduce__(self):
        return (os.system, ("exit 0",))


def test_a_full_disk_is_one_line_with_the_space_left(full_disk):
    target = full_disk / "checkpoints" / "teacher.pt"
    with pytest.raises(EdgesubError) as caught:
        save_torch({"weights": torch.zeros(1_000_000)}, target)
    message = str(caught.value)
    assert message.startswith(f"cannot write {target}: no space left on device (")
    assert " MB free); free some space" in message and "\n" not in message
    assert list(target.parent.iterdir()) == []  # no half-written temp file


def test_a_pickle_that_names_code_is_refused_in_one_line(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(2), "extra": _Payload()}, path)
    with pytest.raises(ModelFileError) as caught:
        load_weights(path, "weights")
    message = str(caught.value)
    assert "would call posix.system" in message and "will not unpickle it" in message
    assert 'safetensors.torch.save_file(model.state_dict(), "model.safetensors")' in message
    assert "weights_only=False" not in message and "\n" not in message


def test_plain_weights_and_safetensors_load(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    torch.save({"w": torch.ones(3)}, tmp_path / "w.pt")
    safetensors_torch.save_file({"w": torch.ones(3)}, str(tmp_path / "w.safetensors"))
    for name in ("w.pt", "w.safetensors"):
        assert torch.equal(load_weights(tmp_path / name, "weights")["w"], torch.ones(3))


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"hello"])
def test_junk_is_one_line(tmp_path, content):
    (tmp_path / "junk.pt").write_bytes(content)
    with pytest.raises(ModelFileError, match=r"junk\.pt") as caught:
        load_weights(tmp_path / "junk.pt", "weights")
    assert "\n" not in str(caught.value)
