#!/usr/bin/env bash
# Builds llama.cpp's own tools (llama-simple, llama-server) from the llama-cpp-python sdist's
# vendored sources into target/llama.cpp/, offline from PyPI: the reference outputs and the
# benchmark peer. ~10 minutes on 2 cores; a no-op when already built. Built with the
# instruction sets the llama-cpp-2 crate's build uses (AVX2, FMA, F16C, BMI2; not -march=
# native, whose AMX kernels crash on these machines), so both sides run the same kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/llama.cpp
VERSION=0.3.36
if [ -x "$OUT/build/bin/llama-simple" ] && [ -x "$OUT/build/bin/llama-server" ]; then
  echo "llama.cpp tools present in $OUT/build/bin"
  exit 0
fi
mkdir -p "$OUT"
if [ ! -d "$OUT/llama_cpp_python-$VERSION" ]; then
  python3 -m pip download --no-deps --no-binary :all: --quiet --dest "$OUT" "llama-cpp-python==$VERSION"
  tar xzf "$OUT/llama_cpp_python-$VERSION.tar.gz" -C "$OUT"
fi
cmake -S "$OUT/llama_cpp_python-$VERSION/vendor/llama.cpp" -B "$OUT/build" \
  -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_EXAMPLES=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF \
  -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
  -DGGML_OPENMP=ON > "$OUT/configure.log"
cmake --build "$OUT/build" --target llama-simple llama-server -j "${JOBS:-$(nproc)}" > "$OUT/build.log"
echo "llama.cpp tools built in $OUT/build/bin"
