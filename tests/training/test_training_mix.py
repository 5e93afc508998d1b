"""Batch mixing of the transfer set: which rows blend, with whom, by how much."""

from __future__ import annotations

import pytest
import torch

from edgesub.distill.core import _check_mixable
from edgesub.errors import ConfigError, UnknownNameError
from edgesub.training.augment import MIX_SHARE, MIXES, _draw, cutmix, mixup


def _batch(n: int = 512) -> torch.Tensor:
    return torch.rand((n, 1, 8, 8), generator=torch.Generator().manual_seed(1))


def _drawn(x: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    return _draw(x)


def test_mixup_blends_the_drawn_rows_with_their_partners_and_leaves_the_rest():
    x = _batch()
    torch.manual_seed(3)
    out, blended = mixup(x)
    rows, partners, lam = _drawn(x, 3)
    assert torch.equal(blended, rows)
    assert abs(rows.float().mean().item() - MIX_SHARE) < 0.1
    assert torch.equal(out[~rows], x[~rows])
    want = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[partners]
    torch.testing.assert_close(out[rows], want[rows])


def test_cutmix_pastes_one_box_of_the_partner_covering_one_minus_lambda():
    x = _batch()
    torch.manual_seed(4)
    out, blended = cutmix(x)
    rows, partners, lam = _drawn(x, 4)
    assert torch.equal(blended, rows) and torch.equal(out[~rows], x[~rows])
    from_partner = (out == x[partners]) & (out != x)
    for i in torch.nonzero(rows).flatten()[:50]:
        box = torch.nonzero(from_partner[i, 0])
        if len(box) == 0:
            continue
        area = (box[:, 0].max() - box[:, 0].min() + 1) * (box[:, 1].max() - box[:, 1].min() + 1)
        assert len(box) == area  # one rectangle
        assert abs(area.item() / 64 - (1 - lam[i].item())) < 0.25
        assert torch.equal(out[i][out[i] != x[i]], x[partners[i]][out[i] != x[i]])


def test_what_cannot_be_blended_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="token ids cannot be blended"):
        _check_mixable(torch.zeros((4, 16), dtype=torch.int64), "mixup")
    with pytest.raises(ConfigError, match="use 'mixup' for non-images"):
        _check_mixable(torch.zeros((4, 16)), "cutmix")
    with pytest.raises(UnknownNameError, match="known: cutmix, mixup, none"):
        MIXES.get("mixout")


def test_blended_rows_lose_their_labels_in_the_distillation_step():
    """head_ce sees only the rows mixing left alone: a blended row's label would be wrong."""
    import numpy as np

    from edgesub.config import DistillConfig
    from edgesub.distill.core import StudentData, _step_loss
    from edgesub.training.ddp import SINGLE

    x = _batch(64).numpy()
    y = np.arange(64, dtype=np.int64) % 3
    data = StudentData(x, y, x[:4], y[:4], 3)
    cfg = DistillConfig(losses={"head_ce": 1.0}, mix="mixup")
    logits_of = lambda b: b.flatten(1)[:, :3] * 10  # noqa: E731

    def trained(b):
        return b.flatten(1)[:, :2], logits_of(b), None

    step = _step_loss(trained, data, cfg, lambda idx, batch: {}, SINGLE)
    idx = torch.arange(64)
    torch.manual_seed(5)
    loss = step(idx, slice(None))
    torch.manual_seed(5)
    mixed, rows = mixup(torch.from_numpy(x))
    kept = ~rows
    want = torch.nn.functional.cross_entropy(logits_of(mixed)[kept], torch.from_numpy(y)[kept])
    torch.testing.assert_close(loss, want)
