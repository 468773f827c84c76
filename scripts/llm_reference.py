"""Greedy text of llama.cpp's own `llama-simple` (built by scripts/llama_cpp_peer.sh from the
llama-cpp-python sdist's vendored sources) for the test prompts, on the same GGUF file:
the known answers `actors/tests/llm_reference.rs` compares the swarm's `llm` service with.

    python3 scripts/llm_reference.py LLAMA_SIMPLE MODEL_GGUF OUT_JSON
"""
import json
import subprocess
import sys

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "List three prime numbers.",
    "Explain what a CPU does in one sentence.",
    "Translate 'good morning' into French.",
    "Write a Python function that adds two numbers.",
    "Name the largest planet in the solar system.",
    "Give me a tip for sleeping better.",
]
TOKENS = 32


def chatml(prompt):
    # SmolLM2's template (ChatML), as its GGUF's chat template renders one user turn.
    return f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"


def main(simple, model, out):
    answers = []
    for p in PROMPTS:
        text = chatml(p)
        run = subprocess.run([simple, "-m", model, "-n", str(TOKENS), text], capture_output=True, check=True)
        printed = run.stdout.decode("utf-8")
        if not printed.startswith(text):
            sys.exit(f"llama-simple did not echo the prompt first: {printed[:200]!r}")
        # It prints the prompt, the generated pieces, then a newline.
        answers.append({"prompt": text, "greedy": printed[len(text):].removesuffix("\n")})
    with open(out, "w") as f:
        json.dump({"source": "llama.cpp llama-simple (llama-cpp-python 0.3.36 sdist), greedy", "n_predict": TOKENS, "answers": answers}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(answers)} reference answers to {out}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
