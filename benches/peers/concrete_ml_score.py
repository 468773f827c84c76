#!/usr/bin/env python3
"""Peer reference: Concrete ML (1.x) encrypted logistic-regression scoring.

Usage: concrete_ml_score.py OUT.json [--no-fhe]

Needs `pip install concrete-ml` (tested with concrete-ml 1.9.0 / concrete-python 2.10.0,
Python 3.11, x86_64).  Trains concrete.ml.sklearn.LogisticRegression(n_bits=8) (Concrete ML's
default for linear models) on the first 8 features of sklearn's breast-cancer data set
(train_test_split random_state=0, default test_size=0.25, standardised with the training
set's mean/std, numpy std with ddof=0), dumps the integer model exactly as Concrete ML
evaluates it to OUT.json, re-derives every quantity from the published formulas as a
self-check, then times predict_proba(x, fhe="execute") on one sample (median of 51, key
generation excluded) and prints one JSON summary line on stdout.
"""
import json
import platform
import statistics
import sys
import time

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import concrete.ml
from concrete.ml.sklearn import LogisticRegression

N_BITS = 8
N_FEATURES = 8


def rint(v):
    # numpy.rint == round half to even (Rust: f64::round_ties_even)
    return np.rint(v).astype(np.int64)


def spec_quantizer(values, n_bits):
    """Concrete ML PTQ for linear models: per-tensor min/max, signed, asymmetric."""
    rmin, rmax = float(np.min(values)), float(np.max(values))
    offset = 2 ** (n_bits - 1)
    assert rmax - rmin >= 1e-6
    scale = (rmax - rmin) / (2**n_bits - 1)
    zp = int(np.round((rmax * (-offset) - rmin * (2**n_bits - 1 - offset)) / (rmax - rmin)))
    return scale, zp, offset


def spec_quant(values, scale, zp, n_bits):
    offset = 2 ** (n_bits - 1)
    return np.clip(np.rint(values / scale + zp), -offset, 2**n_bits - 1 - offset).astype(np.int64)


def main():
    out_path = sys.argv[1]
    run_fhe = "--no-fhe" not in sys.argv[2:]

    data = load_breast_cancer()
    X = data.data[:, :N_FEATURES].astype(np.float64)
    y = data.target.astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0)
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    X_tr = (X_tr - mean) / std
    X_te = (X_te - mean) / std

    model = LogisticRegression(n_bits=N_BITS)
    model.fit(X_tr, y_tr)
    sk = model.sklearn_model
    w = sk.coef_.ravel().astype(np.float64)
    b = float(sk.intercept_[0])

    iq = model.input_quantizers[0]
    wq = model._weight_quantizer  # pylint: disable=protected-access
    oq = model.output_quantizers[0]
    q_w = model._q_weights.ravel().astype(np.int64)  # pylint: disable=protected-access
    q_bias = int(np.asarray(model._q_bias).ravel()[0])  # pylint: disable=protected-access
    out_scale = float(oq.scale)
    out_zp2 = int(np.asarray(oq.zero_point).ravel()[0])  # already 2*Z

    # ---- self-check: re-derive everything from the spec --------------------------------
    s_x, zp_x, off_x = spec_quantizer(X_tr, N_BITS)
    s_w, zp_w, _ = spec_quantizer(w, N_BITS)
    assert s_x == float(iq.scale) and zp_x == int(iq.zero_point), (s_x, zp_x, iq.scale, iq.zero_point)
    assert s_w == float(wq.scale) and zp_w == int(wq.zero_point)
    assert np.array_equal(spec_quant(w, s_w, zp_w, N_BITS), q_w)
    S = s_x * s_w
    Z = zp_x * (int(q_w.sum()) - N_FEATURES * zp_w)
    assert S == out_scale and 2 * Z == out_zp2
    assert int(np.rint(b / S + Z)) == q_bias
    q_X_te = spec_quant(X_te, s_x, zp_x, N_BITS)
    assert np.array_equal(q_X_te, model.quantize_input(X_te))
    acc = q_X_te @ q_w - zp_w * q_X_te.sum(axis=1) + q_bias
    cml_acc = np.asarray(model._inference(model.quantize_input(X_te))).ravel()  # pylint: disable=protected-access
    assert np.array_equal(acc, cml_acc)
    score = S * (acc - 2.0 * Z)
    assert np.array_equal(score, model.decision_function(X_te, fhe="disable"))
    # Concrete ML's sigmoid (ONNX-style): exp(-logaddexp(0, -s)); 1/(1+exp(-s)) differs by 1 ulp
    p_spec = np.exp(-np.logaddexp(0.0, -score))
    p_disable = model.predict_proba(X_te, fhe="disable")[:, 1]
    assert np.array_equal(p_spec, p_disable), np.max(np.abs(p_spec - p_disable))
    p_float = sk.predict_proba(X_te)[:, 1]
    acc_train = (lambda q: q @ q_w - zp_w * q.sum(axis=1) + q_bias)(spec_quant(X_tr, s_x, zp_x, N_BITS))

    summary = {
        "tool": "concrete-ml",
        "concrete_ml_version": concrete.ml.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "n_bits": N_BITS,
        "n_features": N_FEATURES,
        "n_test": int(len(X_te)),
        "self_check": "ok",
        "max_abs_p_diff_float_vs_quant": float(np.max(np.abs(p_float - p_disable))),
        "acc_range_train": [int(acc_train.min()), int(acc_train.max())],
        "acc_range_test": [int(acc.min()), int(acc.max())],
        "pred_agree_float_vs_quant": float(np.mean((p_float > 0.5) == (p_disable > 0.5))),
    }

    if run_fhe:
        t0 = time.perf_counter()
        model.compile(X_tr)
        summary["compile_s"] = time.perf_counter() - t0
        circuit = model.fhe_circuit
        t0 = time.perf_counter()
        circuit.keygen(force=False)
        summary["keygen_s"] = time.perf_counter() - t0
        x1 = X_te[:1]
        runs = []
        p_fhe = None
        for _ in range(51):
            t0 = time.perf_counter()
            p_fhe = model.predict_proba(x1, fhe="execute")
            runs.append(time.perf_counter() - t0)
        summary["predict_proba_execute_s_runs"] = runs
        summary["predict_proba_execute_s_median"] = statistics.median(runs)
        summary["fhe_p1_sample0"] = float(p_fhe[0, 1])
        summary["fhe_matches_disable_sample0"] = bool(p_fhe[0, 1] == p_disable[0])
        # stage split on the raw integer circuit
        q1 = model.quantize_input(x1)
        stages = {"encrypt": [], "run": [], "decrypt": []}
        for _ in range(51):
            t0 = time.perf_counter(); enc = circuit.encrypt(q1); t1 = time.perf_counter()
            res = circuit.run(enc); t2 = time.perf_counter()
            dec = circuit.decrypt(res); t3 = time.perf_counter()
            stages["encrypt"].append(t1 - t0)
            stages["run"].append(t2 - t1)
            stages["decrypt"].append(t3 - t2)
        summary["stage_s"] = {k: statistics.median(v) for k, v in stages.items()}
        summary["fhe_raw_acc_sample0"] = int(np.asarray(dec).ravel()[0])
        stats = {}
        try:
            for k, v in dict(circuit.statistics).items():
                try:
                    json.dumps(v)
                    stats[k] = v
                except TypeError:
                    stats[k] = str(v)
        except Exception as e:  # pylint: disable=broad-except
            stats["error"] = repr(e)
        summary["circuit_statistics"] = stats
        for attr in ("complexity", "size_of_secret_keys", "size_of_bootstrap_keys",
                     "size_of_keyswitch_keys", "size_of_inputs", "size_of_outputs",
                     "p_error", "global_p_error", "programmable_bootstrap_count"):
            try:
                v = getattr(circuit, attr)
                json.dumps(v)
                summary[attr] = v
            except Exception:  # pylint: disable=broad-except
                pass
        try:
            summary["max_integer_bit_width"] = int(circuit.graph.maximum_integer_bit_width())
        except Exception as e:  # pylint: disable=broad-except
            summary["max_integer_bit_width"] = repr(e)
        try:
            summary["mlir"] = circuit.mlir
        except Exception:  # pylint: disable=broad-except
            pass

    doc = {
        "source": "concrete.ml.sklearn.LogisticRegression (SklearnLinearModelMixin._quantize_model/_inference)",
        "concrete_ml_version": concrete.ml.__version__,
        "dataset": {
            "name": "sklearn.datasets.load_breast_cancer, features[:8]",
            "split": "train_test_split(random_state=0, test_size=0.25)",
            "standardise": "(x - mean_train) / std_train (ddof=0)",
            "mean": mean.tolist(), "std": std.tolist(),
        },
        "float_model": {"weights": w.tolist(), "bias": b},
        "input_quantizer": {"n_bits": N_BITS, "is_signed": True, "offset": off_x,
                            "rmin": float(np.min(X_tr)), "rmax": float(np.max(X_tr)),
                            "scale": s_x, "zero_point": zp_x,
                            "q_min": -off_x, "q_max": 2**N_BITS - 1 - off_x},
        "weight_quantizer": {"n_bits": N_BITS, "is_signed": True,
                             "rmin": float(np.min(w)), "rmax": float(np.max(w)),
                             "scale": s_w, "zero_point": zp_w},
        "q_weights": q_w.tolist(),
        "q_bias": q_bias,
        "output": {"scale": S, "Z": Z, "zero_point_2Z": 2 * Z,
                   "formula": "score = scale * (acc - zero_point_2Z); p1 = exp(-logaddexp(0,-score)) (= sigmoid), p0 = 1 - p1"},
        "accumulator": "acc = sum_j q_x[j]*q_w[j] - zp_w*sum_j q_x[j] + q_bias",
        "test": {"x": X_te.tolist(), "y": y_te.tolist(), "q_x": q_X_te.tolist(),
                 "acc": acc.tolist(), "score_quant": score.tolist(),
                 "p1_quant_disable": p_disable.tolist(), "p1_float": p_float.tolist()},
        "summary": {k: v for k, v in summary.items() if k != "mlir"},
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "mlir"}))
    if "mlir" in summary:
        sys.stderr.write(summary["mlir"] + "\n")


if __name__ == "__main__":
    main()
