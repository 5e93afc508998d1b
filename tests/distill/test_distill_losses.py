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
        "dkd": {"teacher_logits"},
        "dist": {"teacher_logits"},
        "simkd": {"teacher_features"},
    }
    assert set(METHODS) == set(wanted)
    for name, signals in wanted.items():
        cfg = with_method(DistillConfig(), name)
        cfg.validate()
        assert needs(cfg.losses) == signals
        assert cfg.train_head == (name not in ("subspace_native", "simkd"))
    assert with_method(DistillConfig(), "simkd").head_init == "teacher"
    assert with_method(DistillConfig(), "dkd").losses == {
        "head_ce": 1.0,
        "dkd_tckd": 1.0,
        "dkd_nckd": 8.0,
    }


def _logit_inputs(student, teacher, labels, t=1.0):
    return LossInputs(
        output=torch.zeros(len(student), 2),
        logits=student,
        labels=labels,
        temperature=t,
        teacher_logits=teacher,
    )


def test_dkd_target_class_term_by_hand():
    student = torch.zeros(1, 3)
    teacher = torch.tensor([[2.0, 0.0, 0.0]])
    b = _logit_inputs(student, teacher, torch.tensor([0]))
    e = math.exp(2.0)
    bt, bs = (e / (e + 2), 2 / (e + 2)), (1 / 3, 2 / 3)
    tckd = sum(p * math.log(p / q) for p, q in zip(bt, bs, strict=True))
    assert LOSSES.get("dkd_tckd")(b).item() == pytest.approx(tckd, rel=1e-5)
    # the non-target classes are uniform in both: nothing to learn there
    assert LOSSES.get("dkd_nckd")(b).item() == pytest.approx(0.0, abs=1e-6)


def test_dkd_terms_decompose_classical_kd():
    """Zhao et al.'s eq. (3): KD = TCKD + (1 − p_t of the target) · NCKD, at any T."""
    torch.manual_seed(0)
    student, teacher = torch.randn(5, 4), torch.randn(5, 4)
    labels = torch.tensor([0, 1, 2, 3, 1])
    for t in (1.0, 4.0):
        kd, tckd, nckd = 0.0, 0.0, 0.0
        for i in range(5):
            row = _logit_inputs(student[i : i + 1], teacher[i : i + 1], labels[i : i + 1], t)
            p_target = torch.softmax(teacher[i] / t, 0)[labels[i]].item()
            kd += LOSSES.get("logit_kd")(row).item()
            tckd += LOSSES.get("dkd_tckd")(row).item()
            nckd += (1 - p_target) * LOSSES.get("dkd_nckd")(row).item()
        assert kd == pytest.approx(tckd + nckd, rel=1e-4)


def test_dkd_takes_the_teachers_class_for_unlabeled_rows():
    student, teacher = torch.randn(2, 3), torch.tensor([[0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])
    unlabeled = _logit_inputs(student, teacher, torch.tensor([-1, -1]))
    as_teacher = _logit_inputs(student, teacher, torch.tensor([1, 2]))
    for name in ("dkd_tckd", "dkd_nckd"):
        assert LOSSES.get(name)(unlabeled).item() == pytest.approx(LOSSES.get(name)(as_teacher))


def test_pearson_is_invariant_to_scale_and_shift():
    from edgesub.distill.losses import pearson

    a = torch.tensor([[1.0, 2.0, 4.0], [0.5, -1.0, 3.0]])
    assert pearson(a, 3 * a + 2).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert pearson(a, -0.5 * a + 7).tolist() == pytest.approx([-1.0, -1.0], abs=1e-6)
    x, y = [1.0, 2.0, 4.0], [2.0, 1.0, 3.0]
    mx, my = sum(x) / 3, sum(y) / 3
    cov = sum((u - mx) * (v - my) for u, v in zip(x, y, strict=True))
    r = cov / math.sqrt(sum((u - mx) ** 2 for u in x) * sum((v - my) ** 2 for v in y))
    assert pearson(torch.tensor([x]), torch.tensor([y])).item() == pytest.approx(r, rel=1e-6)


def test_dist_is_zero_on_identical_logits_and_matches_the_pearson_by_hand():
    from edgesub.distill.losses import pearson

    torch.manual_seed(0)
    z = torch.randn(6, 5)
    same = _logit_inputs(z, z.clone(), torch.zeros(6, dtype=torch.long), t=4.0)
    for name in ("dist_inter", "dist_intra"):  # up to DIST's ε = 1e-8 in the denominator
        assert LOSSES.get(name)(same).item() == pytest.approx(0.0, abs=1e-4)
    teacher = torch.randn(6, 5)
    b = _logit_inputs(z, teacher, torch.zeros(6, dtype=torch.long), t=2.0)
    s, p = torch.softmax(z / 2, 1), torch.softmax(teacher / 2, 1)
    inter = 4 * (1 - sum(pearson(s[i : i + 1], p[i : i + 1]).item() for i in range(6)) / 6)
    intra = 4 * (1 - sum(pearson(s[:, j][None], p[:, j][None]).item() for j in range(5)) / 5)
    assert LOSSES.get("dist_inter")(b).item() == pytest.approx(inter, rel=1e-5)
    assert LOSSES.get("dist_intra")(b).item() == pytest.approx(intra, rel=1e-5)
    # invariant to a per-row affine map of the student's probabilities: softmax is not
    # affine, so a plain logit shift (which softmax ignores) leaves it unchanged
    shifted = _logit_inputs(z + 3.0, teacher, torch.zeros(6, dtype=torch.long), t=2.0)
    assert LOSSES.get("dist_inter")(shifted).item() == pytest.approx(inter, rel=1e-5)


def test_simkd_regresses_the_projected_features_onto_the_raw_teacher_features():
    b = LossInputs(
        output=torch.zeros(1, 2),
        logits=torch.zeros(1, 3),
        labels=torch.zeros(1, dtype=torch.long),
        temperature=1.0,
        teacher_features=torch.tensor([[10.0, 0.0, 3.0, 1.0]]),
        hint=torch.tensor([[8.0, 0.0, 3.0, 2.0]]),
    )
    assert LOSSES.get("simkd")(b).item() == pytest.approx(5.0 / 4)
    assert LOSSES.get("simkd").projector and LOSSES.get("simkd").needs == {"teacher_features"}


@pytest.mark.parametrize("name", ["dkd_tckd", "dkd_nckd", "dist_inter", "dist_intra", "simkd"])
def test_new_losses_pass_gradients_to_the_student(name):
    torch.manual_seed(1)
    logits = torch.randn(4, 3, requires_grad=True)
    hint = torch.randn(4, 5, requires_grad=True)
    b = LossInputs(
        output=torch.zeros(4, 2),
        logits=logits,
        labels=torch.tensor([0, 1, 2, -1]),
        temperature=4.0,
        teacher_logits=torch.randn(4, 3),
        teacher_features=torch.randn(4, 5),
        hint=hint,
    )
    LOSSES.get(name)(b).backward()
    grad = hint.grad if name == "simkd" else logits.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_simkd_head_folds_into_one_linear_computing_the_same_function():
    from edgesub.distill.deployable import ProjectedHead

    torch.manual_seed(0)
    head = ProjectedHead(torch.nn.Linear(4, 16), torch.nn.Linear(16, 3))
    z = torch.randn(8, 4)
    folded = head.folded()
    assert (folded.in_features, folded.out_features) == (4, 3)
    torch.testing.assert_close(folded(z), head(z), atol=1e-5, rtol=1e-5)


def test_unknown_method_lists_the_known_ones():
    from edgesub.config import DistillConfig
    from edgesub.distill import with_method

    with pytest.raises(UnknownNameError, match="dist, dkd, fitnets, logit_kd, simkd"):
        with_method(DistillConfig(), "dkd2")
