"""Points the official Qdrant Python client (REST), unchanged, at a swarm gateway and
checks the collection operations: create, exists, get (the full CollectionInfo model the
client parses), list, upsert, retrieve, count, delete.

    python3 scripts/qdrant_client_check.py http://127.0.0.1:8080
Prints one JSON line with what it saw; exits non-zero on any failure.
"""
import json
import sys

from qdrant_client import QdrantClient, models


def main(base):
    client = QdrantClient(url=base, prefix="v1", prefer_grpc=False, check_compatibility=False)
    name = "qdrant_check"
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE),
        hnsw_config=models.HnswConfigDiff(m=8, ef_construct=64),
    )
    exists = client.collection_exists(name)
    missing = client.collection_exists("no_such_collection")
    client.upsert(name, points=[
        models.PointStruct(id=1, vector=[1.0, 0.0, 0.0, 0.0], payload={"colour": "red"}),
        models.PointStruct(id=2, vector=[0.0, 1.0, 0.0, 0.0], payload={"colour": "blue"}),
    ])
    got = client.retrieve(name, ids=[2, 1, 99], with_vectors=True)
    bare = client.retrieve(name, ids=[1], with_payload=False)
    info = client.get_collection(name)
    listed = [c.name for c in client.get_collections().collections]
    count = client.count(name, exact=True).count
    client.delete_collection(name)
    print(json.dumps({
        "exists": exists,
        "missing": missing,
        "status": str(info.status.value),
        "optimizer_status": str(info.optimizer_status),
        "points_count": info.points_count,
        "size": info.config.params.vectors.size,
        "distance": str(info.config.params.vectors.distance.value),
        "m": info.config.hnsw_config.m,
        "ef_construct": info.config.hnsw_config.ef_construct,
        "listed": listed,
        "count": count,
        "retrieved": [[r.id, r.payload, r.vector] for r in got],
        "bare": [[r.id, r.payload, r.vector] for r in bare],
        "exists_after_delete": client.collection_exists(name),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
