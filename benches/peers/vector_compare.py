"""hnswlib on the same vectors, parameters and exact answers as `vector-compare`, printed
side by side with our figures.

    python3 benches/peers/vector_compare.py target/vector-bench clustered

Build: M 16, ef_construction 200, all cores (as ours). Search: one thread, all queries in
one knn_query call per ef (hnswlib's fastest path, no per-query Python overhead), median of 3.
Then the queries are added one point per add_items call (one thread), as ours are upserted.
"""
import json
import os
import sys
import time

import hnswlib
import numpy as np

DIM = 384
K = 10


def main() -> None:
    out, dataset = sys.argv[1], sys.argv[2]
    ours = json.load(open(os.path.join(out, f"{dataset}.ours.json")))
    base = np.fromfile(os.path.join(out, f"{dataset}.base.f32"), dtype="<f4").reshape(-1, DIM)
    queries = np.fromfile(os.path.join(out, f"{dataset}.query.f32"), dtype="<f4").reshape(-1, DIM)
    truth = np.fromfile(os.path.join(out, f"{dataset}.truth.u32"), dtype="<u4").reshape(-1, K)
    threads = os.cpu_count() or 2

    index = hnswlib.Index(space="cosine", dim=DIM)
    index.init_index(max_elements=len(base), M=16, ef_construction=200, random_seed=100)
    index.set_num_threads(threads)
    t = time.perf_counter()
    index.add_items(base, np.arange(len(base)))
    build = time.perf_counter() - t

    index.set_num_threads(1)
    rows = []
    for row in ours["search"]:
        ef = row["ef"]
        index.set_ef(ef)
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            labels, _ = index.knn_query(queries, k=K, num_threads=1)
            runs.append(len(queries) / (time.perf_counter() - t))
        runs.sort()
        recall = np.mean([len(set(l) & set(w)) / K for l, w in zip(labels, truth)])
        rows.append({"ef": ef, "recall": float(recall), "qps": runs[1]})

    index.resize_index(len(base) + len(queries))
    singles = []
    for i, q in enumerate(queries):
        t = time.perf_counter()
        index.add_items(q.reshape(1, -1), [len(base) + i], num_threads=1)
        singles.append((time.perf_counter() - t) * 1e6)
    singles.sort()
    single = {"median": singles[len(singles) // 2], "p99": singles[len(singles) * 99 // 100]}

    n = len(base)
    print(f"\n{dataset}: {n} x {DIM}, M 16, ef_construction 200, {len(queries)} queries, "
          f"build on {threads} threads, search on 1 thread")
    print(f"build      ours {ours['build_seconds']:7.1f} s ({ours['inserts_per_second']:6.0f}/s)   "
          f"hnswlib {build:7.1f} s ({n / build:6.0f}/s)   ours/hnswlib speed {build / ours['build_seconds']:.2f}x")
    print(" ef | recall ours | recall hnswlib | QPS ours | QPS hnswlib | QPS ratio")
    for o, h in zip(ours["search"], rows):
        print(f"{o['ef']:3d} | {o['recall']:11.4f} | {h['recall']:14.4f} | {o['qps']:8.0f} | "
              f"{h['qps']:11.0f} | {o['qps'] / h['qps']:8.2f}x")
    so = ours["single_insert_us"]
    print(f"one point per insert: ours median {so['median']:.0f} µs p99 {so['p99']:.0f} µs   "
          f"hnswlib median {single['median']:.0f} µs p99 {single['p99']:.0f} µs (one add_items call each)")
    json.dump({"ours": ours,
               "hnswlib": {"build_seconds": build, "search": rows, "single_insert_us": single}},
              open(os.path.join(out, f"{dataset}.compare.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
