"""Points the official OpenAI Python client, unchanged, at a swarm gateway and checks
its embeddings API works: list and single inputs, default (base64) and float encodings.

    python3 scripts/openai_client_check.py http://127.0.0.1:8080
Prints one JSON line with what it saw; exits non-zero on any failure.
"""
import json
import sys

from openai import OpenAI


def main(base):
    client = OpenAI(base_url=base.rstrip("/") + "/v1", api_key="not-needed-unless-keys-are-configured")
    many = client.embeddings.create(model="all-MiniLM-L6-v2", input=["The cat sits on the mat.", "A kitten is resting on a rug."])
    one = client.embeddings.create(model="all-MiniLM-L6-v2", input="The cat sits on the mat.", encoding_format="float")
    a, b = many.data[0].embedding, many.data[1].embedding
    c = one.data[0].embedding
    print(json.dumps({
        "count": len(many.data),
        "dims": [len(a), len(b), len(c)],
        "indexes": [d.index for d in many.data],
        "same_text_cosine": sum(x * y for x, y in zip(a, c)),
        "similar_cosine": sum(x * y for x, y in zip(a, b)),
        "prompt_tokens": many.usage.prompt_tokens,
        "model": many.model,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
