"""Search-R1's ``POST /retrieve`` on the search service.

The request bodies are those of Search-R1's retrieval server documentation and of verl's
search tool client (``{"queries": [...], "topk": 3, "return_scores": true}``); the response
is read the way their clients read it: ``response["result"][i]`` is query i's list,
``item["document"]["contents"]``'s first line is the (quoted) title, the rest the text.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from webanchor_env.serve import BatchSettings, serve

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def server(tiny_backend):
    srv = serve(tiny_backend, settings=BatchSettings(max_batch=32, max_wait_ms=5))
    yield srv
    srv.stop()


def post(url: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(
        url + "/retrieve",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def as_reference(item: dict) -> tuple[str, str]:
    """(title, text) as Search-R1's and verl's clients cut a document's ``contents``."""
    content = item["document"]["contents"]
    return content.split("\n")[0], "\n".join(content.split("\n")[1:])


def test_retrieve_with_scores_matches_in_process_search(server, tiny_backend):
    body = {
        "queries": ["Who designed Lumen Tower?", "Glasswing Bridge opening"],
        "topk": 3,
        "return_scores": True,
    }
    status, answer = post(server.url, body)
    assert status == 200 and set(answer) == {"result"}
    assert len(answer["result"]) == 2
    expected = tiny_backend.search(body["queries"], 3)
    for items, hits in zip(answer["result"], expected):
        assert len(items) == len(hits) == 3
        for item, hit in zip(items, hits):
            assert set(item) == {"document", "score"}
            assert item["score"] == pytest.approx(hit.score, abs=1e-5)
            title, text = as_reference(item)
            assert title == f'"{hit.title}"'
            assert text == tiny_backend.index.passages[hit.passage].body
            assert item["document"]["id"] == hit.page_id
            assert item["document"]["url"] == hit.url
    scores = [item["score"] for item in answer["result"][0]]
    assert scores == sorted(scores, reverse=True)
    assert as_reference(answer["result"][0][0])[0] == '"Lumen Tower"'


def test_retrieve_without_scores_lists_documents(server):
    status, answer = post(server.url, {"queries": ["Varn Institute"], "topk": 2})
    assert status == 200
    [docs] = answer["result"]
    assert len(docs) == 2 and all(set(d) >= {"id", "contents"} for d in docs)
    status, answer = post(server.url, {"queries": ["Varn Institute"], "topk": None})
    assert len(answer["result"][0]) == 3  # Search-R1's default top-k


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"queries": "Varn"}, '"queries" to be a list of strings'),
        ({"queries": ["Varn"], "topk": -1}, '"topk" to be an integer'),
        ({"queries": ["Varn"], "return_scores": "yes"}, '"return_scores" to be true or false'),
    ],
)
def test_a_malformed_retrieve_body_gets_400_saying_what_was_expected(server, body, message):
    status, answer = post(server.url, body)
    assert status == 400 and message in answer["error"]
