"""LangChain's Qdrant vector store (langchain-qdrant's QdrantVectorStore) with LangChain's
OpenAI embeddings, both unchanged, pointed at one swarm gateway: the store talks to the
collections API, the embeddings to /v1/embeddings. Also Qdrant's server-side inference
(`models.Document` with `cloud_inference=True`), which the swarm's embed service answers.

    python3 scripts/langchain_qdrant_check.py http://127.0.0.1:8080
Prints one JSON line with what it saw; exits non-zero on any failure.
"""
import json
import math
import sys

from langchain_openai import OpenAIEmbeddings
from langchain_qdrant import QdrantVectorStore
from qdrant_client import QdrantClient, models

TEXTS = [
    "The cat sat on the mat in the sun.",
    "Paris is the capital and largest city of France.",
    "Rust is a systems programming language focused on safety.",
    "Bananas are a fruit rich in potassium.",
]
TOPICS = ["animals", "places", "software", "food"]
MODEL = "all-MiniLM-L6-v2"


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def main(base):
    # Without tiktoken's download: the swarm's embed service counts tokens itself.
    embeddings = OpenAIEmbeddings(base_url=base + "/v1", api_key="unused", model=MODEL,
                                  check_embedding_ctx_length=False)
    store = QdrantVectorStore.from_texts(TEXTS, embeddings, metadatas=[{"topic": t} for t in TOPICS],
                                         url=base, prefix="v1", collection_name="langchain")
    seen = {}
    questions = ["What is the capital city of France?", "Which language is good for systems programming?"]
    vectors = embeddings.embed_documents(TEXTS)
    for q in questions:
        [(doc, score)] = store.similarity_search_with_score(q, k=1)
        # The reference: brute-force cosine over the same embeddings, here in Python.
        qv = embeddings.embed_query(q)
        best = max(range(len(TEXTS)), key=lambda i: cosine(vectors[i], qv))
        assert doc.page_content == TEXTS[best], (q, doc.page_content, TEXTS[best])
        assert abs(score - cosine(vectors[best], qv)) < 1e-3, (score, cosine(vectors[best], qv))
        seen.setdefault("answers", []).append(doc.page_content)
        seen.setdefault("topics", []).append(doc.metadata["topic"])
    food = models.Filter(must=[models.FieldCondition(key="metadata.topic", match=models.MatchValue(value="food"))])
    seen["filtered"] = [d.page_content for d in store.similarity_search("capital of France", k=2, filter=food)]

    # Qdrant's server-side inference: documents the client sends as text.
    client = QdrantClient(url=base, prefix="v1", cloud_inference=True, check_compatibility=False)
    client.create_collection("documents", vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE))
    client.upsert("documents", points=[models.PointStruct(id=i, vector=models.Document(text=t, model=MODEL), payload={"text": t})
                                       for i, t in enumerate(TEXTS)])
    hits = client.query_points("documents", query=models.Document(text="a yellow fruit", model=MODEL), limit=1).points
    seen["document_hit"] = hits[0].payload["text"]
    stored = client.retrieve("documents", ids=[1], with_vectors=True)[0].vector
    seen["document_vs_openai_cosine"] = cosine(stored, vectors[1])
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1])
