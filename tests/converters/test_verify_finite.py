"""Verification never judges NaN or infinite outputs by a tolerance: they fail outright."""

import numpy as np
import pytest

from edgesub.config import ConvertConfig
from edgesub.converters.verify import Reference, parity
from edgesub.errors import ParityError

X = np.zeros((4, 3), np.float32)
Y = np.array([0, 1, 2, 0])
LOGITS = np.eye(3, dtype=np.float32)[Y] * 5.0


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("labels", [Y, None])
def test_a_source_model_with_nan_outputs_cannot_be_verified_against(precision, labels):
    broken = LOGITS.copy()
    broken[1, 1] = np.nan  # NaN weights give NaN logits
    reference = Reference(x=X, y=labels, logits=broken)
    with pytest.raises(ParityError, match="source model outputs NaN or infinity"):
        parity(reference, LOGITS, precision, ConvertConfig())


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_an_artifact_with_non_finite_outputs_fails_even_with_keep_failed(precision, bad):
    candidate = LOGITS.copy()
    candidate[2, 0] = bad
    reference = Reference(x=X, y=Y, logits=LOGITS)
    with pytest.raises(ParityError, match="artifact outputs NaN or infinity"):
        parity(reference, candidate, precision, ConvertConfig(keep_failed=True))


def test_finite_outputs_are_still_judged_by_the_tolerance():
    result = parity(Reference(x=X, y=Y, logits=LOGITS), LOGITS + 1e-6, "fp32", ConvertConfig())
    assert result["passed"] and result["max_abs_diff"] < 1e-5
