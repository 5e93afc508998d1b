"""Which criterion judges a reduced-precision file, by what the verification inputs are."""

from __future__ import annotations

import numpy as np

from edgesub.config import ConvertConfig
from edgesub.converters.verify import MIN_COSINE, Reference, parity


def _near_ties(n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Logits where 10 % of the rows nearly tie, and a faithful copy (noise 1e-2) that flips
    some of those: what int8 does on standard-normal inputs."""
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((n, 4)) * 3 + 10.0  # a common offset, as logits often have
    tied = rng.random(n) < 0.1
    logits[tied, 0] = logits[tied, 1] = logits[tied].max(axis=1)  # the top two tie
    copy = logits + rng.standard_normal(logits.shape) * 1e-2
    return logits.astype(np.float32), copy.astype(np.float32)


def test_generated_inputs_are_judged_by_output_similarity_not_near_tie_flips():
    """Failed before: 4 flips of 256 generated inputs failed a faithful int8 file."""
    logits, copy = _near_ties()
    x = np.zeros((len(logits), 1), np.float32)
    flips = 100.0 - (copy.argmax(1) == logits.argmax(1)).mean() * 100.0
    assert flips > ConvertConfig().int8_max_accuracy_drop  # top-1 would refuse it
    synthetic = parity(Reference(x, None, logits, synthetic=True), copy, "int8", ConvertConfig())
    assert synthetic["criterion"] == "cosine_similarity" and synthetic["passed"]
    users = parity(Reference(x, None, logits), copy, "int8", ConvertConfig())
    assert users["criterion"] == "top1_agreement" and not users["passed"]


def test_similarity_of_logits_ignores_their_common_offset():
    """An unrelated file whose logits share the offset must still fail on generated inputs."""
    logits, _ = _near_ties()
    rng = np.random.default_rng(1)
    unrelated = (rng.standard_normal(logits.shape) * 3 + 10.0).astype(np.float32)
    x = np.zeros((len(logits), 1), np.float32)
    result = parity(Reference(x, None, logits, synthetic=True), unrelated, "int8", ConvertConfig())
    assert result["cosine_similarity"] < 0.2 < MIN_COSINE and not result["passed"]
    labelled = Reference(x, logits.argmax(1), logits, synthetic=True)
    assert parity(labelled, unrelated, "int8", ConvertConfig())["criterion"] == "accuracy_drop"
