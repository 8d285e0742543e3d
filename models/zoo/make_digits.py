#!/usr/bin/env python3
"""Train a small MLP on scikit-learn's bundled 8x8 digits and export it to ONNX by hand.

Outputs (written next to this script unless --out-dir is given):

- digits_mlp.onnx              input "input" f32[1,64] -> Gemm -> Relu -> Gemm -> "output" f32[1,10]
- digits_test.json             held-out test set {"inputs": [[64 floats], ...], "labels": [...]}
- digits_calibration.json      100 TRAINING samples, EZKL layout {"input_data": [[64 floats], ...]}
- digits_sample_input.json     first test sample {"input_data": [[64 floats]]}
- digits_float_accuracy.json   {"float_test_accuracy": x, "n_test": n, "sklearn_version": "..."}

The float test accuracy is measured by running the exported ONNX through onnxruntime on every test
sample and is asserted equal to sklearn's own `score`. Everything is seeded, so two runs produce
byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import sklearn
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

SEED = 0
TEST_SIZE = 0.25
HIDDEN = 32
MAX_ITER = 1000
N_CALIBRATION = 100  # 10 per class
OPSET = 13
IR_VERSION = 8
N_FEATURES = 64
N_CLASSES = 10


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bundled digits (no download), pixels 0..16 scaled to [0, 1) as float32, stratified 75/25."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # k/16 is exact in f32; 16/16 = 1.0 is the max
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, stratify=y, random_state=SEED
    )
    return x_train, x_test, y_train, y_test


def train(x_train: np.ndarray, y_train: np.ndarray) -> MLPClassifier:
    """Train the MLP; a convergence warning is treated as an error."""
    clf = MLPClassifier(
        hidden_layer_sizes=(HIDDEN,),
        activation="relu",
        solver="adam",
        random_state=SEED,
        max_iter=MAX_ITER,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(x_train, y_train)
    return clf


def to_onnx(clf: MLPClassifier) -> onnx.ModelProto:
    """Hand-built ONNX graph: Gemm(W1, b1, transB=1) -> Relu -> Gemm(W2, b2, transB=1)."""
    w1 = np.ascontiguousarray(clf.coefs_[0].T, dtype=np.float32)  # [32, 64]
    b1 = np.asarray(clf.intercepts_[0], dtype=np.float32)  # [32]
    w2 = np.ascontiguousarray(clf.coefs_[1].T, dtype=np.float32)  # [10, 32]
    b2 = np.asarray(clf.intercepts_[1], dtype=np.float32)  # [10]
    assert w1.shape == (HIDDEN, N_FEATURES) and w2.shape == (N_CLASSES, HIDDEN)

    initializers = [
        numpy_helper.from_array(w1, "W1"),
        numpy_helper.from_array(b1, "b1"),
        numpy_helper.from_array(w2, "W2"),
        numpy_helper.from_array(b2, "b2"),
    ]
    nodes = [
        helper.make_node("Gemm", ["input", "W1", "b1"], ["hidden"], name="dense1", transB=1),
        helper.make_node("Relu", ["hidden"], ["hidden_relu"], name="relu1"),
        helper.make_node("Gemm", ["hidden_relu", "W2", "b2"], ["output"], name="dense2", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_mlp",
        inputs=[helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, N_FEATURES])],
        outputs=[helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, N_CLASSES])],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="zkgrid-models-zoo/make_digits.py",
        doc_string=(
            "sklearn load_digits MLP 64-32-10 (ReLU), inputs pixel/16 in [0,1], "
            "outputs logits (no softmax)"
        ),
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def onnx_logits(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Run the exported model with onnxruntime one sample at a time (the graph is batch 1)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    rows = [sess.run(["output"], {"input": x[i : i + 1]})[0][0] for i in range(x.shape[0])]
    return np.stack(rows)


def rows(x: np.ndarray) -> list[list[float]]:
    """float32 rows as Python floats (exact: every value is k/16)."""
    return [[float(v) for v in r] for r in x]


def write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, separators=(",", ":")) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)

    x_train, x_test, y_train, y_test = load_split()
    assert x_train.min() >= 0.0 and x_train.max() <= 1.0
    clf = train(x_train, y_train)
    sk_score = float(clf.score(x_test, y_test))

    model = to_onnx(clf)
    model_bytes = model.SerializeToString(deterministic=True)

    # Float accuracy of the EXPORTED model, on every test sample.
    logits = onnx_logits(model_bytes, x_test)
    onnx_pred = logits.argmax(axis=1)
    onnx_acc = float((onnx_pred == y_test).mean())
    sk_pred = clf.predict(x_test)
    assert np.array_equal(onnx_pred, sk_pred), "ONNX and sklearn predictions differ"
    assert onnx_acc == sk_score, f"onnx accuracy {onnx_acc} != sklearn score {sk_score}"

    # Logits also match an independent float64 numpy forward pass of the sklearn weights.
    ref = np.maximum(x_test.astype(np.float64) @ clf.coefs_[0] + clf.intercepts_[0], 0.0)
    ref = ref @ clf.coefs_[1] + clf.intercepts_[1]
    max_err = float(np.abs(logits.astype(np.float64) - ref).max())
    assert max_err < 1e-4, f"ONNX logits deviate from numpy reference by {max_err}"

    # Calibration: first 10 training samples of each class, kept in training-split order.
    calib_idx = np.sort(
        np.concatenate([np.flatnonzero(y_train == c)[: N_CALIBRATION // N_CLASSES] for c in range(N_CLASSES)])
    )
    assert calib_idx.size == N_CALIBRATION

    (out / "digits_mlp.onnx").write_bytes(model_bytes)
    write_json(out / "digits_test.json", {"inputs": rows(x_test), "labels": [int(v) for v in y_test]})
    write_json(out / "digits_calibration.json", {"input_data": rows(x_train[calib_idx])})
    write_json(out / "digits_sample_input.json", {"input_data": rows(x_test[:1])})
    write_json(
        out / "digits_float_accuracy.json",
        {"float_test_accuracy": onnx_acc, "n_test": int(y_test.size), "sklearn_version": sklearn.__version__},
    )

    print(
        f"train={y_train.size} test={y_test.size} iters={clf.n_iter_} "
        f"sklearn_score={sk_score:.6f} onnx_acc={onnx_acc:.6f} max_logit_err={max_err:.2e} "
        f"onnx_bytes={len(model_bytes)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
