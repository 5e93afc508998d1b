"""Tiny digits classifiers trained briefly on real data, for tests that need a real model."""

from __future__ import annotations

from typing import Any


def tiny_cnn() -> Any:
    import torch

    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


def fit(net: Any, digits: Any, *, epochs: int, batch_size: int, lr: float = 1e-2) -> Any:
    """Cross-entropy with Adam on the digits train split, batches in a seeded order; eval mode."""
    import torch

    opt = torch.optim.Adam(net.parameters(), lr=lr)
    x, y = torch.from_numpy(digits.train.x), torch.from_numpy(digits.train.y)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    return net.eval()


def trained_tiny_cnn(digits: Any, epochs: int = 15) -> Any:
    """~5k-parameter CNN, seeded (~90 % test accuracy at 15 epochs)."""
    import torch

    torch.manual_seed(0)
    return fit(tiny_cnn(), digits, epochs=epochs, batch_size=128)


def dense_onnx(path: Any, *, softmax: bool) -> Any:
    """A seeded 1×8×8 → 10 dense classifier as an ONNX file, ending in a Softmax when asked.

    Its weights are large enough that the top class has a probability near 1 (the case where
    a second softmax visibly flattens it)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.normal(0, 3, (64, 10)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.normal(0, 1, 10).astype(np.float32), "b")
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["logits"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["scores"], axis=1))
    graph = helper.make_graph(
        nodes,
        "dense",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 8, 8])],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, ["n", 10])],
        [weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def mlp_onnx(path: Any, hidden: int) -> Any:
    """x[1,64] → MatMul(64×hidden) → Relu → MatMul(hidden×10): a fixed-batch ONNX classifier
    whose cost grows with ``hidden`` (a wide one is far slower on a small CPU)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(hidden)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.1, (64, hidden)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(0, 0.1, (hidden, 10)).astype(np.float32), "w2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
