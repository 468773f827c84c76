"""Points the official Qdrant Python client (REST), unchanged, at a swarm gateway and
checks every operation the swarm serves against answers computed here independently
(brute-force cosine over the same points, payloads tracked in Python).

    python3 scripts/qdrant_client_check.py http://127.0.0.1:8080 write
    (restart the swarm on the same data)
    python3 scripts/qdrant_client_check.py http://127.0.0.1:8081 read

`write` creates the collections, writes 1,000+ points, updates payloads and checks
reads, searches, filters and errors; `read` checks that everything written is there
after the restart. Prints one JSON line with what it saw; exits non-zero on any failure.
"""
import json
import math
import sys
import uuid

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

NAME = "qdrant_check"
BULK = "bulk"
N = 1000
U = str(uuid.UUID(int=7))


def vec(i):
    return [math.sin(i * 0.7), math.cos(i * 1.3), math.sin(i * 0.11 + 1), ((i * 37) % 101) / 101 - 0.5]


def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def cosine(a, b):
    return sum(x * y for x, y in zip(unit(a), unit(b)))


def payload(i):
    p = {"n": i, "group": i % 10, "tags": ["t%d" % (i % 3)] * (1 + i % 3), "title": "point number %d" % i}
    if i % 100 == 0:
        p["note"] = None
    if i % 250 == 0:
        p["dogs"] = [{"name": "rex", "age": i % 7}, {"name": "max", "age": 9}]
    return p


def expect_error(status, says, call):
    try:
        call()
    except UnexpectedResponse as e:
        body = json.loads(e.content)
        assert e.status_code == status, (e.status_code, body)
        assert says in body["status"]["error"], body
        assert body["error"]["message"] == body["status"]["error"], body
        return body["status"]["error"]
    raise AssertionError("expected HTTP %d mentioning %r" % (status, says))


def top(points, query, k, keep=lambda i: True, skip=0):
    """The reference answer: ids of the k best live points by exact cosine."""
    scored = sorted(((cosine(v, query), i) for i, v in points.items() if keep(i)), key=lambda s: (-s[0], s[1]))
    return [i for _, i in scored[skip:skip + k]]


def scroll_all(client, limit, flt=None):
    ids, offset, pages = [], None, 0
    while True:
        points, offset = client.scroll(BULK, limit=limit, offset=offset, scroll_filter=flt, with_payload=False)
        ids += [p.id for p in points]
        pages += 1
        if offset is None:
            return ids, pages


def live(client):
    """The reference state of the bulk collection after `write`."""
    points = {i: vec(i) for i in range(N) if i % 50 != 49}
    return points


def check_bulk_reads(client, seen):
    points = live(client)
    ids, pages = scroll_all(client, 64)
    assert ids == sorted(points), "scroll returns every point once, in id order"
    seen["scrolled"], seen["scroll_pages"] = len(ids), pages
    group3, _ = scroll_all(client, 7, models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value=3))]))
    assert group3 == [i for i in sorted(points) if i % 10 == 3], group3
    seen["scrolled_group3"] = len(group3)
    q = [0.3, -0.2, 0.9, 0.1]
    exact = client.query_points(BULK, query=q, limit=10, search_params=models.SearchParams(exact=True))
    assert [p.id for p in exact.points] == top(points, q, 10), "exact search matches brute force"
    assert all(abs(p.score - cosine(points[p.id], q)) < 1e-4 for p in exact.points)
    graph = client.query_points(BULK, query=q, limit=10, search_params=models.SearchParams(hnsw_ef=128))
    seen["recall_at_10"] = len({p.id for p in graph.points} & set(top(points, q, 10))) / 10
    seen["top10"] = [p.id for p in exact.points]
    # Payload updates made in `write` are visible to filters.
    flagged = client.count(BULK, count_filter=models.Filter(must=[models.FieldCondition(key="flag", match=models.MatchValue(value="x"))])).count
    assert flagged == 100, flagged
    seen["flagged"] = flagged
    seen["count"] = client.count(BULK).count


def write(base):
    client = QdrantClient(url=base, prefix="v1", prefer_grpc=False, check_compatibility=False)
    seen = {}
    client.create_collection(NAME, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE),
                             hnsw_config=models.HnswConfigDiff(m=8, ef_construct=64))
    seen["exists"] = client.collection_exists(NAME)
    seen["missing"] = client.collection_exists("no_such_collection")
    client.upsert(NAME, points=[
        models.PointStruct(id=1, vector=[1.0, 0.0, 0.0, 0.0], payload={"colour": "red", "size": {"w": 2, "h": 3}}),
        models.PointStruct(id=2, vector={"": [0.0, 1.0, 0.0, 0.0]}, payload={"colour": "blue"}),
    ])
    client.upsert(NAME, points=models.Batch(ids=[3, U], vectors=[[0.0, 0.0, 1.0, 0.0], [0.5, 0.5, 0.0, 0.0]],
                                            payloads=[{"colour": "green"}, {"colour": "red"}]))
    info = client.get_collection(NAME)
    seen["info"] = [str(info.status.value), str(info.optimizer_status), info.points_count,
                    info.config.params.vectors.size, str(info.config.params.vectors.distance.value),
                    info.config.hnsw_config.m, info.config.hnsw_config.ef_construct]
    seen["listed"] = sorted(c.name for c in client.get_collections().collections)
    got = client.retrieve(NAME, ids=[2, 1, 99], with_vectors=True)
    seen["retrieved"] = [[r.id, r.payload, r.vector] for r in got]
    seen["bare"] = [[r.id, r.payload, r.vector] for r in client.retrieve(NAME, ids=[1], with_payload=False)]
    seen["include"] = client.retrieve(NAME, ids=[1], with_payload=["size.w"])[0].payload
    seen["exclude"] = client.retrieve(NAME, ids=[1], with_payload=models.PayloadSelectorExclude(exclude=["colour"]))[0].payload
    # Payload updates by id, with a key, by filter; each visible to the next filter.
    client.set_payload(NAME, payload={"shade": "dark"}, points=[1, 2])
    client.set_payload(NAME, payload={"d": 5}, points=[1], key="size")
    client.overwrite_payload(NAME, payload={"colour": "teal"}, points=[3])
    client.delete_payload(NAME, keys=["shade"], points=[2])
    client.clear_payload(NAME, points_selector=models.FilterSelector(filter=models.Filter(must=[models.HasIdCondition(has_id=[U])])))
    seen["payloads"] = {str(r.id): r.payload for r in client.retrieve(NAME, ids=[1, 2, 3, U])}
    seen["missing_point"] = expect_error(404, "no point with id 42", lambda: client.set_payload(NAME, payload={"a": 1}, points=[42]))
    dark = client.count(NAME, count_filter=models.Filter(must=[models.FieldCondition(key="shade", match=models.MatchValue(value="dark"))])).count
    seen["dark"] = dark
    near = client.query_points(NAME, query=[0.9, 0.1, 0.0, 0.0], limit=2, with_vectors=True)
    seen["query"] = [[p.id, round(p.score, 4), p.version, p.payload is not None, p.vector is not None] for p in near.points]
    by_id = client.query_points(NAME, query=1, limit=3, with_payload=False)
    seen["by_id"] = [p.id for p in by_id.points]
    batch = client.query_batch_points(NAME, requests=[
        models.QueryRequest(query=[0.0, 0.0, 1.0, 0.0], limit=1, with_payload=True),
        models.QueryRequest(query=[0.0, 1.0, 0.0, 0.0], limit=2, filter=models.Filter(must_not=[models.HasIdCondition(has_id=[2])])),
    ])
    seen["batch"] = [[[p.id, p.payload] for p in r.points] for r in batch]
    client.create_payload_index(NAME, field_name="colour", field_schema=models.PayloadSchemaType.KEYWORD)
    seen["errors"] = {
        "geo": expect_error(422, "geo_radius", lambda: client.count(NAME, count_filter=models.Filter(must=[models.FieldCondition(
            key="loc", geo_radius=models.GeoRadius(center=models.GeoPoint(lon=0, lat=0), radius=1.0))]))),
        "recommend": expect_error(422, "`recommend` queries are not supported", lambda: client.query_points(NAME, query=models.RecommendQuery(
            recommend=models.RecommendInput(positive=[1])))),
        "no_collection": expect_error(404, "no_such", lambda: client.get_collection("no_such")),
        "dimension": expect_error(422, "dimension", lambda: client.upsert(NAME, points=[models.PointStruct(id=9, vector=[1.0])])),
    }
    client.delete(NAME, points_selector=models.FilterSelector(filter=models.Filter(must=[models.FieldCondition(key="colour", match=models.MatchValue(value="teal"))])))
    client.delete(NAME, points_selector=models.PointIdsList(points=[2]))
    seen["after_delete"] = client.count(NAME).count
    client.delete_collection(NAME)
    seen["exists_after_delete"] = client.collection_exists(NAME)

    # 1,000 points through the client's own uploader (points-list batches of 64, wait=false).
    client.create_collection(BULK, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
    client.upload_points(BULK, points=[models.PointStruct(id=i, vector=vec(i), payload=payload(i)) for i in range(N)], batch_size=64)
    client.delete(BULK, points_selector=models.PointIdsList(points=[i for i in range(N) if i % 50 == 49]))
    client.set_payload(BULK, payload={"flag": "x"}, points=models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value=7))]))
    filters = {
        "values_count": models.FieldCondition(key="tags", values_count=models.ValuesCount(gte=3)),
        "is_null": models.IsNullCondition(is_null=models.PayloadField(key="note")),
        "is_empty": models.IsEmptyCondition(is_empty=models.PayloadField(key="dogs")),
        "text": models.FieldCondition(key="title", match=models.MatchText(text="number 12")),
        "except": models.FieldCondition(key="group", match=models.MatchExcept(**{"except": list(range(1, 10))})),
        "range": models.FieldCondition(key="n", range=models.Range(gte=100, lt=200)),
        "nested": models.NestedCondition(nested=models.Nested(key="dogs", filter=models.Filter(must=[
            models.FieldCondition(key="name", match=models.MatchValue(value="rex")),
            models.FieldCondition(key="age", range=models.Range(gte=5))]))),
    }
    counts = {k: client.count(BULK, count_filter=models.Filter(must=[c])).count for k, c in filters.items()}
    pts = live(client)
    want = {
        "values_count": sum(1 for i in pts if i % 3 == 2),
        "is_null": sum(1 for i in pts if i % 100 == 0),
        "is_empty": sum(1 for i in pts if i % 250 != 0),
        "text": sum(1 for i in pts if "number 12" in "point number %d" % i),
        "except": sum(1 for i in pts if i % 10 == 0),
        "range": sum(1 for i in pts if 100 <= i < 200),
        "nested": sum(1 for i in pts if i % 250 == 0 and i % 7 >= 5),
    }
    assert counts == want, (counts, want)
    seen["filters"] = counts
    min_should = models.Filter(min_should=models.MinShould(min_count=2, conditions=[filters["range"], filters["is_null"], filters["except"]]))
    nested = models.Filter(should=[filters["is_null"], models.Filter(must=[filters["range"]], must_not=[filters["except"]])])
    seen["nested_should"] = client.count(BULK, count_filter=nested).count
    assert seen["nested_should"] == sum(1 for i in pts if i % 100 == 0 or (100 <= i < 200 and i % 10 != 0)), seen["nested_should"]
    seen["min_should"] = client.count(BULK, count_filter=min_should).count
    assert seen["min_should"] == sum(1 for i in pts if ((100 <= i < 200) + (i % 100 == 0) + (i % 10 == 0)) >= 2)
    q = [0.1, 0.8, -0.3, 0.2]
    flt = models.Filter(must=[filters["range"]], must_not=[models.FieldCondition(key="group", match=models.MatchAny(any=[1, 2]))])
    page = client.query_points(BULK, query=q, query_filter=flt, limit=5, offset=3, with_vectors=True,
                               search_params=models.SearchParams(exact=True))
    assert [p.id for p in page.points] == top(pts, q, 5, lambda i: 100 <= i < 200 and i % 10 not in (1, 2), skip=3)
    assert all(p.vector is not None for p in page.points)
    threshold = client.query_points(BULK, query=q, limit=1000, score_threshold=0.9, search_params=models.SearchParams(exact=True))
    assert sorted(p.id for p in threshold.points) == sorted(i for i, v in pts.items() if cosine(v, q) >= 0.9)
    seen["above_threshold"] = len(threshold.points)
    check_bulk_reads(client, seen)
    print(json.dumps(seen))


def read(base):
    client = QdrantClient(url=base, prefix="v1", prefer_grpc=False, check_compatibility=False)
    seen = {"listed": sorted(c.name for c in client.get_collections().collections)}
    check_bulk_reads(client, seen)
    print(json.dumps(seen))


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[2] if len(sys.argv) > 2 else "write"](sys.argv[1])
