"""An independent MiniLM (BERT) forward pass in plain numpy, reading model.safetensors
directly, with sentence-transformers' pooling (mean over the attention mask, then L2
normalisation). It writes the reference vectors the Rust tests compare against.

    make models && python3 -m pip install tokenizers numpy
    python3 benches/peers/minilm_reference.py models/all-MiniLM-L6-v2 > actors/tests/data/minilm_reference.json
"""
import json
import math
import struct
import sys

import numpy as np
from tokenizers import Tokenizer

SENTENCES = [
    "A swarm of agents decides together.",
    "The cat sits on the mat.",
    "A kitten is resting on a rug.",
    "Quarterly revenue grew by twelve percent.",
    "Supervised actors restart when they crash.",
    "",
    " ".join(["token"] * 400),  # longer than the 256-token limit: truncated
]


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] != "F32":
            continue  # e.g. the position_ids buffer
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(meta["shape"]).astype(np.float64)
    return out


def layer_norm(x, g, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


erf = np.vectorize(math.erf)


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def linear(w, prefix, x):
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


def embed(w, cfg, ids):
    seq = len(ids)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:seq] \
        + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], cfg["layer_norm_eps"])
    heads = cfg["num_attention_heads"]
    d = cfg["hidden_size"] // heads
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        q, k, v = (linear(w, f"{p}.attention.self.{n}", x).reshape(seq, heads, d).transpose(1, 0, 2) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        ctx = (scores @ v).transpose(1, 0, 2).reshape(seq, heads * d)
        x = layer_norm(linear(w, f"{p}.attention.output.dense", ctx) + x,
                       w[f"{p}.attention.output.LayerNorm.weight"], w[f"{p}.attention.output.LayerNorm.bias"], cfg["layer_norm_eps"])
        h = gelu(linear(w, f"{p}.intermediate.dense", x))
        x = layer_norm(linear(w, f"{p}.output.dense", h) + x,
                       w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"], cfg["layer_norm_eps"])
    pooled = x.mean(0)  # every token is real (no padding): mean over the mask = mean
    return pooled / np.linalg.norm(pooled)


def main(model_dir):
    cfg = json.load(open(f"{model_dir}/config.json"))
    limit = json.load(open(f"{model_dir}/sentence_bert_config.json"))["max_seq_length"]
    w = load_safetensors(f"{model_dir}/model.safetensors")
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(limit)
    rows = []
    for s in SENTENCES:
        ids = tok.encode(s).ids
        rows.append({"text": s, "tokens": len(ids), "embedding": [round(float(v), 7) for v in embed(w, cfg, ids)]})
    json.dump({"model": "all-MiniLM-L6-v2", "max_seq_length": limit, "references": rows}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
