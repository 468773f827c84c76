"""The swarm's `llm` service against llama.cpp's own `llama-server`, side by side in one run:
same GGUF, same CPU threads, same slots, the same streaming OpenAI requests from the same
client. Per engine (taking turns, so they never share the CPU) and per number of
concurrent streaming clients (1, 2, 4, 8, 16): aggregate tokens/s, time to first token
p50/p99, and single-stream decode tokens/s. Writes results.json, a markdown table and a
PNG plot into --out.

    python3 benches/peers/llm_compare.py --swarm target/release/swarm \
        --server target/llama.cpp/build/bin/llama-server --model models/…gguf --out target/llm-bench
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import httpx

TOPICS = ["a lighthouse keeper", "a robot gardener", "a lost kitten", "a mountain village", "a time traveller",
          "a clockmaker", "a desert caravan", "a deep-sea diver", "a chess prodigy", "a haunted library",
          "a river pilot", "a baker at dawn", "a comet hunter", "a retired astronaut", "a street musician", "a beekeeper"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_swarm(binary, model, threads, slots, ctx):
    port = free_port()
    cfg = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    cfg.write(f"""gateway:
  listen: 127.0.0.1:{port}
  request_timeout: 600s
services:
  llm:
    type: llm
    workers: 1
    concurrency: {slots}
    deadline: 600s
    queue: {{ capacity: 1024 }}
    params:
      model: {model}
      max_sequences: {slots}
      context: {ctx}
      max_batch_tokens: 512
      threads: {threads}
      cache_bytes: 0
""")
    cfg.close()
    proc = subprocess.Popen([binary, "up", "--config", cfg.name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if "ready" not in line:
        sys.exit(f"swarm did not start: {line!r}")
    return proc, f"http://127.0.0.1:{port}", {"cache": False}


def start_server(binary, model, threads, slots, ctx):
    port = free_port()
    proc = subprocess.Popen([binary, "-m", model, "-t", str(threads), "-tb", str(threads), "-np", str(slots),
                             "-c", str(slots * ctx), "--port", str(port), "--host", "127.0.0.1", "-cb"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                # The peer reuses a slot's KV for a repeated prefix; turned off, as the swarm has no prefix cache.
                return proc, url, {"cache_prompt": False}
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    sys.exit("llama-server did not start")


def one_request(client, url, extra, i, max_tokens):
    body = {"model": "m", "messages": [{"role": "user", "content": f"Tell a long story about {TOPICS[i % len(TOPICS)]} (number {i})."}],
            "temperature": 0, "max_tokens": max_tokens, "stream": True, "stream_options": {"include_usage": True}, **extra}
    sent = time.perf_counter()
    first = None
    chunks = 0
    usage = None
    with client.stream("POST", url + "/v1/chat/completions", json=body, timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            obj = json.loads(data)
            if obj.get("usage"):
                usage = obj["usage"]
            for ch in obj.get("choices", []):
                if ch.get("delta", {}).get("content"):
                    chunks += 1
                    if first is None:
                        first = time.perf_counter()
    end = time.perf_counter()
    tokens = usage["completion_tokens"] if usage else chunks
    return {"ttft": (first or end) - sent, "tokens": tokens, "decode": (tokens - 1) / (end - first) if first and end > first and tokens > 1 else 0.0}


def run_level(url, extra, clients, per_client, max_tokens):
    results, lock = [], threading.Lock()

    def worker(c):
        with httpx.Client() as client:
            for k in range(per_client):
                r = one_request(client, url, extra, c * per_client + k, max_tokens)
                with lock:
                    results.append(r)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ttfts = sorted(r["ttft"] for r in results)
    p99 = ttfts[min(len(ttfts) - 1, int(round(0.99 * (len(ttfts) - 1))))]
    return {"clients": clients, "requests": len(results), "tokens": sum(r["tokens"] for r in results),
            "aggregate_tok_s": sum(r["tokens"] for r in results) / wall, "ttft_p50_s": statistics.median(ttfts),
            "ttft_p99_s": p99, "decode_tok_s_median": statistics.median(r["decode"] for r in results)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--swarm", required=True)
    ap.add_argument("--server", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", default="target/llm-bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--slots", type=int, default=16)
    ap.add_argument("--ctx", type=int, default=1024)
    ap.add_argument("--clients", default="1,2,4,8,16")
    ap.add_argument("--per-client", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--only", default="swarm,llama-server", help="engines to run, comma-separated")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    levels = [int(x) for x in a.clients.split(",")]
    starters = {"swarm": lambda: start_swarm(a.swarm, a.model, a.threads, a.slots, a.ctx),
                "llama-server": lambda: start_server(a.server, a.model, a.threads, a.slots, a.ctx)}
    names = [n for n in starters if n in a.only.split(",")]
    # Both run for the whole benchmark (idle while the other works) and take turns at every
    # level, `--rounds` times, alternating who goes first, so drift of a shared machine
    # hits both alike; each figure is the median over rounds.
    running = {}
    try:
        for name in names:
            running[name] = starters[name]()
            with httpx.Client() as c:
                one_request(c, running[name][1], running[name][2], 999, 16)  # warm-up
        results = {name: [] for name in names}
        for n in levels:
            rounds = {name: [] for name in names}
            for r in range(a.rounds):
                for name in (names if r % 2 == 0 else names[::-1]):
                    _, url, extra = running[name]
                    rounds[name].append(run_level(url, extra, n, a.per_client, a.max_tokens))
            for name in names:
                rows = rounds[name]
                row = {k: statistics.median(x[k] for x in rows) for k in rows[0]}
                row["clients"] = n
                row["rounds"] = len(rows)
                print(name, json.dumps(row), flush=True)
                results[name].append(row)
    finally:
        for proc, _, _ in running.values():
            proc.terminate()
            proc.wait(timeout=30)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"threads": a.threads, "slots": a.slots, "max_tokens": a.max_tokens, "per_client": a.per_client,
                   "rounds": a.rounds, "results": results}, f, indent=1)
    if len(results) < 2:
        return
    lines = ["| clients | swarm tok/s | llama-server tok/s | ratio | swarm TTFT p50 / p99 (ms) | llama-server TTFT p50 / p99 (ms) | swarm decode tok/s (median/stream) | llama-server decode tok/s |",
             "|---|---|---|---|---|---|---|---|"]
    for s, l in zip(results["swarm"], results["llama-server"]):
        lines.append(f"| {s['clients']} | {s['aggregate_tok_s']:.1f} | {l['aggregate_tok_s']:.1f} | {s['aggregate_tok_s'] / l['aggregate_tok_s']:.2f}× | "
                     f"{s['ttft_p50_s'] * 1e3:.0f} / {s['ttft_p99_s'] * 1e3:.0f} | {l['ttft_p50_s'] * 1e3:.0f} / {l['ttft_p99_s'] * 1e3:.0f} | "
                     f"{s['decode_tok_s_median']:.1f} | {l['decode_tok_s_median']:.1f} |")
    table = "\n".join(lines)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    plot(results, levels, a.out)


def plot(results, levels, out):
    """Throughput and TTFT against concurrent clients, one colour per engine."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed; no plot")
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for (name, rows), colour in zip(results.items(), ["tab:blue", "tab:orange"]):
        xs = [r["clients"] for r in rows]
        ax1.plot(xs, [r["aggregate_tok_s"] for r in rows], marker="o", color=colour, label=name)
        ax2.plot(xs, [r["ttft_p50_s"] * 1e3 for r in rows], marker="o", color=colour, label=f"{name} p50")
        ax2.plot(xs, [r["ttft_p99_s"] * 1e3 for r in rows], marker="x", linestyle="--", color=colour, label=f"{name} p99")
    ax1.set(xscale="log", xlabel="concurrent streaming clients", ylabel="aggregate tokens/s", title="Throughput")
    ax2.set(xscale="log", yscale="log", xlabel="concurrent streaming clients", ylabel="time to first token (ms)", title="TTFT")
    for ax in (ax1, ax2):
        ax.set_xticks(levels, [str(x) for x in levels])
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "llm_compare.png"), dpi=110)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--plot":
        saved = json.load(open(sys.argv[2]))["results"]
        plot(saved, [r["clients"] for r in next(iter(saved.values()))], os.path.dirname(sys.argv[2]))
        sys.exit(0)
    main()
