# The two set-up commands: `make run` and `make test`. Both work on a fresh machine.
CARGO ?= cargo
CONFIG ?= config/swarm.yaml

MODELS ?= models

LLM_MODEL ?= $(MODELS)/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf

.PHONY: bench-agent llm-peer llm-reference bench-llm bench-fhe bench-sched bench-cluster run test test-deps build lint fmt bench bench-gateway bench-peers bench-vector tools models build-deps

## Build and start the swarm from $(CONFIG) (gateway on ${SWARM_LISTEN:-127.0.0.1:8080}).
run: build-deps models
	$(CARGO) build --release -p swarm-actors --bin swarm
	@test -f $${SWARM_FHE_KEYS:-keys/fhe}/keys.json || ./target/release/swarm fhe keygen --out $${SWARM_FHE_KEYS:-keys/fhe}
	./target/release/swarm up --config $(CONFIG)

## The embedded default models, fetched and verified into $(MODELS)/ (a no-op when present).
models:
	python3 scripts/fetch_models.py $(MODELS)

## Python packages the tests drive (the official OpenAI and Qdrant clients, LangChain's Qdrant store).
test-deps:
	python3 -m pip install --quiet --disable-pip-version-check openai qdrant-client "langchain-qdrant>=1.1,<2" "langchain-openai>=1.7,<2"

## What building llama.cpp (vendored by llama-cpp-2) needs: cmake, and libclang for bindgen.
build-deps:
	@command -v cmake >/dev/null && (ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1) || \
	  (apt-get update -qq && apt-get install -y -qq --no-install-recommends cmake libclang-dev)

## Everything the tests need, then all tests. Not --all-targets: that would also link a test
## harness for every binary (none has tests; ~100 MB each), which filled CI's disk.
test: build-deps models test-deps
	$(CARGO) test --workspace --lib --tests --benches --examples

build:
	$(CARGO) build --workspace --all-targets

lint: build-deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## wrk (Debian package) for the gateway load benchmark.
tools:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)

## Criterion benchmarks (queue, envelope and tracing overhead, service cores, filtered vector search).
bench:
	$(CARGO) bench -p swarm-benches

## Python peers side by side (nashpy, Flower): installs them with pip, then compares.
bench-peers:
	python3 -m pip install -q nashpy flwr
	$(CARGO) build --release -p swarm-benches --bin nash-compare --bin fl-compare
	./target/release/nash-compare > target/nash-compare.json
	python3 benches/peers/nash_compare.py target/nash-compare.json
	./target/release/fl-compare > target/fl-compare.json
	python3 benches/peers/fl_compare.py target/fl-compare.json

## Vector search vs hnswlib (pip) on identical 100k x 384 vectors: clustered, then MiniLM.
bench-vector: models
	python3 -m pip install -q hnswlib numpy
	$(CARGO) build --release -p swarm-benches --bin vector-compare
	./target/release/vector-compare --dataset clustered
	python3 benches/peers/vector_compare.py target/vector-bench clustered
	SWARM_MODELS=$(MODELS) ./target/release/vector-compare --dataset minilm
	python3 benches/peers/vector_compare.py target/vector-bench minilm

## The scheduler against round robin and single pools: embed on two CPU pools of unequal speed.
## FHE: key load and a 16×4 encrypted tally, multi-operand sum against sequential adds.
## FHE side by side: tally, auctions, encrypted scoring beside Concrete ML (installed with pip
## into $(CML_VENV): ~6 GB, most of it torch's CUDA wheels) on the same quantised model.
CML_VENV ?= target/cml-venv
bench-fhe:
	$(CARGO) build --release -p swarm-benches --bin fhe-compare
	test -x $(CML_VENV)/bin/python || (python3 -m venv $(CML_VENV) && $(CML_VENV)/bin/pip install -q concrete-ml)
	$(CML_VENV)/bin/python benches/peers/concrete_ml_score.py target/concrete-ml-model.json > target/concrete-ml-summary.json 2> target/concrete-ml.mlir
	./target/release/fhe-compare target/fhe-bench-keys 3 target/concrete-ml-model.json target/concrete-ml-summary.json | tee benches/results/fhe_compare.md

bench-sched: models
	$(CARGO) build --release -p swarm-benches --bin sched-compare
	SWARM_MODELS=$(MODELS) ./target/release/sched-compare 8 | tee benches/results/sched_compare.md

## Many nodes: Nash 9×9 over 1, 2 and 3 pinned node processes, and cross-node latency.
bench-cluster: build-deps
	$(CARGO) build --release -p swarm-benches --bin cluster-compare -p swarm-actors --bin swarm
	SWARM_CLUSTER_COOKIE=cluster-compare ./target/release/cluster-compare ./target/release/swarm | tee benches/results/cluster_compare.md

## The gateway under load from wrk, beside a bare axum handler, in one run.
bench-gateway: tools
	$(CARGO) build --release -p swarm-benches --bin gateway-load
	./target/release/gateway-load

## llama.cpp's own tools (llama-simple, llama-server) from the llama-cpp-python sdist, into target/llama.cpp.
llm-peer: build-deps
	bash scripts/llama_cpp_peer.sh

## Regenerate the known answers of tests/llm_reference.rs with llama.cpp's own greedy decoding.
llm-reference: models llm-peer
	python3 scripts/llm_reference.py target/llama.cpp/build/bin/llama-simple $(LLM_MODEL) actors/tests/data/llm_reference.json

## Agents: overhead per step against a direct model call, and 100 runs at once on a
## remote pool (a second swarm's chat API).
bench-agent: models
	$(CARGO) build --release -p swarm-benches --bin agent-bench -p swarm-actors --bin swarm
	SWARM_MODELS=$(MODELS) ./target/release/agent-bench overhead 9 | tee benches/results/agent_overhead.md
	SWARM_MODELS=$(MODELS) ./target/release/agent-bench concurrent ./target/release/swarm 100 | tee benches/results/agent_concurrent.md

## The llm service against llama.cpp's llama-server, side by side (same GGUF, same threads).
bench-llm: models llm-peer
	CARGO_TARGET_DIR=$${CARGO_TARGET_DIR:-target} $(CARGO) build --release -p swarm-actors --bin swarm
	python3 -m pip install -q httpx matplotlib
	python3 benches/peers/llm_compare.py --swarm $${CARGO_TARGET_DIR:-target}/release/swarm \
	  --server target/llama.cpp/build/bin/llama-server --model $(LLM_MODEL) --out target/llm-bench
