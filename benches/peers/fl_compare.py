"""Runs Flower's own aggregation functions on the same 100 × 1,000,000 float32 updates
that fl-compare aggregated (same formula), checks the results agree, and prints medians
and ratios.

    cargo run --release -p swarm-benches --bin fl-compare > /tmp/fl.json
    python3 benches/peers/fl_compare.py /tmp/fl.json
"""
import json
import statistics
import sys
import time

import flwr
import numpy as np
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
from flwr.server.strategy import FedAvg, FedMedian
from flwr.server.strategy.aggregate import aggregate, aggregate_median, aggregate_trimmed_avg

CLIENTS, DIM = 100, 1_000_000


def updates():
    i = np.arange(DIM, dtype=np.int64)
    return [(((i * 31 + k * 17) % 1001) / 1000).astype(np.float32) for k in range(CLIENTS)]


def median_time(fn, runs):
    samples, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples), out


def main(path):
    ours = {row["strategy"]: row for row in json.load(open(path))}
    ups = updates()
    results = [([u], 1 + k % 7) for k, u in enumerate(ups)]
    flower = {
        "fedavg": lambda: aggregate(results),
        "fedmedian": lambda: aggregate_median(results),
        "fedtrimmedavg": lambda: aggregate_trimmed_avg(results, 0.2),
    }
    print(f"flwr {flwr.__version__}, numpy {np.__version__}; {CLIENTS} clients × {DIM:,} float32")
    print(f"reading the bytes once (ours): {ours['read_bytes_once']['seconds'] * 1e3:.1f} ms")
    print("| strategy | ours (median) | Flower (median) | speed-up | ours / read-once | results agree |")
    print("|---|---|---|---|---|---|")
    for name, fn in flower.items():
        t, out = median_time(fn, 3)
        model = out[0].astype(np.float64)
        row = ours[name]
        agree = abs(model.sum() - row["sum"]) <= 1e-3 * max(1.0, abs(row["sum"])) and np.allclose(model[:10], row["head"], atol=1e-5)
        print(f"| {name} | {row['seconds'] * 1e3:.1f} ms | {t * 1e3:.1f} ms | {t / row['seconds']:.1f}× "
              f"| {row['seconds'] / ours['read_bytes_once']['seconds']:.2f}× | {agree} |")
    server_path(ours, ups)


def server_path(ours, ups):
    """Flower's strategy path: updates arrive serialised (Parameters), aggregate_fit
    deserialises and aggregates them. Ours: little-endian bytes decoded, then aggregated."""
    ok = Status(code=Code.OK, message="")
    fit = [(None, FitRes(status=ok, parameters=ndarrays_to_parameters([u]), num_examples=1 + k % 7, metrics={}))
           for k, u in enumerate(ups)]
    print()
    print("From serialised updates (the server path): Flower's aggregate_fit vs ours decoding bytes then aggregating")
    print("| strategy | ours (median) | Flower aggregate_fit (median) | speed-up |")
    print("|---|---|---|---|")
    for name, strategy in [("fedavg", FedAvg()), ("fedmedian", FedMedian())]:
        t, _ = median_time(lambda: strategy.aggregate_fit(1, fit, []), 3)
        mine = ours[f"{name}_from_bytes"]["seconds"]
        print(f"| {name} | {mine * 1e3:.1f} ms | {t * 1e3:.1f} ms | {t / mine:.1f}× |")


if __name__ == "__main__":
    main(sys.argv[1])
