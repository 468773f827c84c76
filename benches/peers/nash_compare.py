"""Times nashpy on the games in nash-compare's JSON, checks that it finds the same
equilibria, and prints medians and ratios (ours measured in the same run, just before).

    cargo run --release -p swarm-benches --bin nash-compare > /tmp/nash.json
    python3 benches/peers/nash_compare.py /tmp/nash.json
"""
import json
import signal
import statistics
import warnings
import sys
import time

import nashpy
import numpy as np


def timed(fn, runs, budget_s=60.0):
    samples, start = [], time.perf_counter()
    result = None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t)
        if time.perf_counter() - start > budget_s:
            break
    return statistics.median(samples), result, len(samples)


def is_equilibrium(A, B, x, y, tol=1e-6):
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != (A.shape[0],) or y.shape != (A.shape[1],) or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return False
    if abs(x.sum() - 1) > tol or abs(y.sum() - 1) > tol or x.min() < -tol or y.min() < -tol:
        return False
    return (A @ y).max() - x @ A @ y <= tol and (x @ B).max() - x @ B @ y <= tol


def same(ours, theirs):
    def key(e):
        return tuple(np.round(np.concatenate([np.asarray(e[0], float), np.asarray(e[1], float)]), 6))
    a = sorted(key((e["row"], e["col"])) for e in ours)
    try:
        b = sorted(key(e) for e in theirs)
    except ValueError:
        return False
    return len(a) == len(b) and all(len(x) == len(y) and np.allclose(x, y, atol=1e-6) for x, y in zip(a, b))


def main(path):
    warnings.simplefilter("ignore")
    cases = json.load(open(path))
    print(f"nashpy {nashpy.__version__}, numpy {np.__version__}")
    print("support enumeration: nashpy with tol=1e-9 (its default 1e-16 misses equilibria of these games)")
    print("| method | size | ours (median) | nashpy (median) | speed-up | equilibria ours / nashpy | same | nashpy's valid |")
    print("|---|---|---|---|---|---|---|---|")
    for c in cases:
        A, B = np.array(c["row"]), np.array(c["col"])
        game = nashpy.Game(A, B)
        if c["method"] == "support_enumeration":
            fn, runs = (lambda: list(game.support_enumeration(tol=1e-9))), 3
        else:
            fn, runs = (lambda: [game.lemke_howson(initial_dropped_label=0)]), 20
        signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError()))
        signal.alarm(120)
        try:
            median, eqs, n = timed(fn, runs)
        except TimeoutError:
            print(f"| {c['method']} | {c['size']}×{c['size']} | {c['ours_seconds'] * 1e3:.3f} ms | did not finish in 120 s | — | {len(c['equilibria'])} / — | — | — |")
            continue
        finally:
            signal.alarm(0)
        ours = c["ours_seconds"]
        valid = all(is_equilibrium(A, B, x, y) for x, y in eqs)
        ours_valid = all(is_equilibrium(A, B, e["row"], e["col"]) for e in c["equilibria"])
        assert ours_valid, "our equilibria must verify"
        print(f"| {c['method']} | {c['size']}×{c['size']} | {ours * 1e3:.3f} ms | {median * 1e3:.1f} ms ({n} runs) "
              f"| {median / ours:.0f}× | {len(c['equilibria'])} / {len(eqs)} | {same(c['equilibria'], eqs)} | {valid} |")


if __name__ == "__main__":
    main(sys.argv[1])
