import math

import pytest
import torch

from edgesub.distill import LOSSES
from edgesub.distill.losses import LossInputs, combined
from edgesub.errors import ConfigError, UnknownNameError


def _inputs(output, target, logits=None, head_logits=None, labels=None, t=2.0):
    logits = torch.zeros(len(output), 3) if logits is None else logits
    return LossInputs(
        output=output,
        logits=logits,
        target=target,
        head_logits=torch.zeros_like(logits) if head_logits is None else head_logits,
        teacher_logits=torch.zeros_like(logits) if head_logits is None else head_logits,
        labels=torch.zeros(len(output), dtype=torch.long) if labels is None else labels,
        temperature=t,
    )


def test_subspace_mse_and_cosine():
    out = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = _inputs(out, torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    assert LOSSES.get("subspace_mse")(b).item() == pytest.approx(1.0)
    scaled = _inputs(out, 3 * out)
    assert LOSSES.get("subspace_cosine")(scaled).item() == pytest.approx(0.0, abs=1e-6)
    opposite = _inputs(out, -out)
    assert LOSSES.get("subspace_cosine")(opposite).item() == pytest.approx(2.0)


def test_kd_losses_are_zero_on_agreement_and_scale_with_t_squared():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    same = _inputs(torch.zeros(1, 2), torch.zeros(1, 2), logits=logits, head_logits=logits)
    assert LOSSES.get("head_kd")(same).item() == pytest.approx(0.0, abs=1e-6)
    other = torch.tensor([[0.0, 2.0, -1.0]])
    for t in (1.0, 4.0):
        b = _inputs(torch.zeros(1, 2), torch.zeros(1, 2), logits=logits, head_logits=other, t=t)
        p = torch.softmax(other / t, 1)
        kl = (p * (p.log() - torch.log_softmax(logits / t, 1))).sum() * t * t
        assert LOSSES.get("head_kd")(b).item() == pytest.approx(kl.item(), rel=1e-5)
        assert LOSSES.get("logit_kd")(b).item() == pytest.approx(kl.item(), rel=1e-5)


def test_head_ce_is_cross_entropy_of_the_head_logits():
    b = _inputs(torch.zeros(1, 2), torch.zeros(1, 2), logits=torch.zeros(1, 4))
    assert LOSSES.get("head_ce")(b).item() == pytest.approx(math.log(4))


def test_combined_weights_and_errors():
    out = torch.tensor([[1.0, 0.0]])
    b = _inputs(out, torch.zeros(1, 2), logits=torch.zeros(1, 4))
    total = combined({"subspace_mse": 2.0, "head_ce": 0.5, "head_kd": 0.0})(b)
    assert total.item() == pytest.approx(2 * 0.5 + 0.5 * math.log(4))
    with pytest.raises(UnknownNameError, match="subspace_mse"):
        combined({"nope": 1.0})
    with pytest.raises(ConfigError):
        combined({"head_ce": 0.0})


def test_fitnets_regresses_the_projected_hint_onto_full_features():
    hint = torch.tensor([[1.0, 2.0, 3.0]])
    b = LossInputs(
        output=torch.zeros(1, 2),
        logits=torch.zeros(1, 3),
        labels=torch.zeros(1, dtype=torch.long),
        temperature=1.0,
        features=torch.tensor([[1.0, 0.0, 3.0]]),
        hint=hint,
    )
    assert LOSSES.get("fitnets")(b).item() == pytest.approx(4.0 / 3)
    assert LOSSES.get("fitnets").projector and not LOSSES.get("subspace_mse").projector


def test_head_ce_label_smoothing():
    logits = torch.tensor([[4.0, 0.0]])
    plain = _inputs(torch.zeros(1, 2), torch.zeros(1, 2), logits=logits)
    smooth = LossInputs(**{**plain.__dict__, "label_smoothing": 0.2})
    assert LOSSES.get("head_ce")(smooth).item() > LOSSES.get("head_ce")(plain).item()


def test_each_method_needs_exactly_its_teacher_signals():
    from edgesub.config import DistillConfig
    from edgesub.distill import METHODS, with_method
    from edgesub.distill.losses import needs

    wanted = {
        "subspace_native": {"target", "head_logits"},
        "ce": set(),
        "logit_kd": {"teacher_logits"},
        "fitnets": {"features"},
    }
    assert set(METHODS) == set(wanted)
    for name, signals in wanted.items():
        cfg = with_method(DistillConfig(), name)
        cfg.validate()
        assert needs(cfg.losses) == signals
        assert cfg.train_head == (name != "subspace_native")
