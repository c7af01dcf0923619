"""The `openai` chat backend and embedder, driven through the real `openai` client against an
OpenAI-compatible server on loopback: replies, caching, retries, bounded concurrency and clear errors."""

import json

import pytest
import torch

from bench.core.errors import BenchError
from bench.llm.cache import LLMCache
from bench.llm.chat import ChatRequest, ChatSettings, load_chat
from bench.llm.embedders import EmbedderSettings, load_embedder
from tests.openai_server import FakeOpenAI, hash_vector

SECRET = "sk-test-secret-123"


def echo_last(messages):
    return "reply to: " + messages[-1]["content"]


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("BENCH_TEST_KEY", SECRET)
    return "BENCH_TEST_KEY"


def chat(server, key, **kw):
    return load_chat("openai", ChatSettings(model="test-model", base_url=server.base_url, api_key_env=key, **kw))


def requests_for(*texts):
    return [ChatRequest((("user", t),), max_tokens=8) for t in texts]


def test_replies_come_back_in_request_order_and_the_key_goes_only_into_the_auth_header(key):
    with FakeOpenAI(echo_last) as server:
        replies = chat(server, key).complete(requests_for("a", "b", "c"))
    assert replies == ["reply to: a", "reply to: b", "reply to: c"]
    assert {r["model"] for r in server.requests} == {"test-model"}
    assert all(h["authorization"] == f"Bearer {SECRET}" for h in server.headers)
    assert all(SECRET not in json.dumps(r) for r in server.requests)


def test_a_cached_reply_is_not_asked_again_and_the_cache_never_holds_the_key(key, tmp_path):
    cache = LLMCache(tmp_path / "cache.sqlite")
    with FakeOpenAI(echo_last) as server:
        model = chat(server, key)
        first = model.complete(requests_for("a", "b"), cache)
        again = model.complete(requests_for("a", "b", "c"), cache)
    assert again[:2] == first
    assert sorted(r["messages"][-1]["content"] for r in server.requests) == ["a", "b", "c"]  # c is the only new one
    assert cache.usage()["hits"] == 2
    assert SECRET.encode() not in (tmp_path / "cache.sqlite").read_bytes()
    assert SECRET not in json.dumps(model.identity())


def test_a_rate_limit_is_retried_and_then_answered(key):
    with FakeOpenAI(echo_last) as server:
        server.fail_next = [(429, json.dumps({"error": {"message": "slow down", "type": "rate_limit"}})),
                            (500, json.dumps({"error": {"message": "boom"}}))]
        replies = chat(server, key, max_retries=3).complete(requests_for("x"))
    assert replies == ["reply to: x"]
    assert len(server.requests) == 3  # 429, 500, then the answer


def test_rate_limits_beyond_the_retries_give_a_clear_error(key):
    with FakeOpenAI(echo_last) as server:
        server.fail_next = [(429, "{}")] * 3
        with pytest.raises(BenchError, match="429"):
            chat(server, key, max_retries=1).complete(requests_for("x"))


def test_a_malformed_completion_gives_a_clear_error(key):
    with FakeOpenAI(echo_last) as server:
        server.fail_next = [(200, json.dumps({"object": "chat.completion", "surprise": True}))]
        with pytest.raises(BenchError, match="malformed chat completion"):
            chat(server, key).complete(requests_for("x"))


def test_a_body_that_is_not_json_gives_a_clear_error(key):
    with FakeOpenAI(echo_last) as server:
        server.fail_next = [(200, "<html>gateway</html>")]
        with pytest.raises(BenchError, match="malformed"):
            chat(server, key).complete(requests_for("x"))


def test_requests_in_flight_never_exceed_max_concurrency(key):
    with FakeOpenAI(echo_last, delay_s=0.05) as server:
        chat(server, key, max_concurrency=2).complete(requests_for(*"abcdefgh"))
    assert server.max_in_flight == 2


def test_a_missing_key_is_named_without_calling_anything(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(BenchError, match="NO_SUCH_KEY_VAR"):
        load_chat("openai", ChatSettings(base_url="http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY_VAR"))


def test_an_unreachable_endpoint_is_named(key):
    model = load_chat("openai", ChatSettings(base_url="http://127.0.0.1:9/v1", api_key_env=key, max_retries=0,
                                             timeout_s=2))
    with pytest.raises(BenchError, match=r"cannot reach .*127\.0\.0\.1:9"):
        model.complete(requests_for("x"))


def test_a_refused_key_is_reported_without_the_key(key):
    with FakeOpenAI(echo_last) as server:
        server.fail_next = [(401, json.dumps({"error": {"message": "bad key"}}))]
        with pytest.raises(BenchError, match="refused the API key in BENCH_TEST_KEY") as caught:
            chat(server, key).complete(requests_for("x"))
    assert SECRET not in str(caught.value)


def test_embeddings_come_through_the_same_client_normalised_and_cached(key, tmp_path):
    cache = LLMCache(tmp_path / "cache.sqlite")
    with FakeOpenAI(echo_last) as server:
        embedder = load_embedder("openai", EmbedderSettings(model="emb", base_url=server.base_url, api_key_env=key))
        vectors = embedder.embed(["toxic", "kind"], cache)
        embedder.embed(["kind"], cache)
    expected = torch.nn.functional.normalize(torch.tensor([hash_vector("toxic"), hash_vector("kind")]), dim=-1)
    assert torch.allclose(vectors, expected, atol=1e-6)
    assert [r["path"] for r in server.requests] == ["/v1/embeddings"]  # the second call was a cache hit


def test_a_malformed_embedding_response_gives_a_clear_error(key):
    with FakeOpenAI(echo_last) as server:
        server.fail_next = [(200, json.dumps({"object": "list", "data": [{"index": 0}]}))]
        embedder = load_embedder("openai", EmbedderSettings(model="emb", base_url=server.base_url, api_key_env=key))
        with pytest.raises(BenchError, match="malformed embedding"):
            embedder.embed(["a"])
