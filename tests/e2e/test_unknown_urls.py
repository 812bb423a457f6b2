"""L4: every /v1 answer is JSON in the OpenAI error shape, on the real server (the lean ASGI front + Django):
unknown paths are a 404 `unknown_url` ("Invalid URL (GET /v1/nope)", as OpenAI words it), stored-response paths
a 404 saying responses are not stored, a wrong method a 405 with `Allow`."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    return error


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/nope"), ("POST", "/v1/nope"), ("GET", "/v1/"), ("GET", "/v1"), ("PUT", "/v1/completions")],
)
def test_unknown_paths_are_json_404s(http, method, path):
    error = error_of(http.request(method, path), 404)
    assert (error["type"], error["code"]) == ("invalid_request_error", "unknown_url")
    assert error["message"].startswith(f"Invalid URL ({method} {path})")


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST"])
def test_stored_response_paths_say_responses_are_not_stored(http, method):
    error = error_of(http.request(method, "/v1/responses/resp_x"), 404)
    assert error["code"] == "not_found"
    assert "not stored" in error["message"]


def test_a_huge_unknown_path_is_not_echoed(http):
    response = http.get("/v1/" + "x" * 8000)
    assert len(error_of(response, 404)["message"]) < 300


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/v1/responses", "POST"),
        ("GET", "/v1/responses", "POST"),
        ("POST", "/v1/models", "GET"),
        ("DELETE", "/v1/models/gpt-4o", "GET"),
        ("POST", "/v1/openapi.json", "GET"),
        ("PUT", "/v1/chat/completions", "POST"),  # a client door (gateway/relay/doors.py), in OpenAI's shape
    ],
)
def test_wrong_methods_are_json_405s_with_allow(http, method, path, allow):
    response = http.request(method, path, headers={"authorization": "Bearer sk-nope"})
    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert response.headers["allow"] == allow


def test_the_real_endpoints_still_answer(http):
    assert http.get("/v1/openapi.json").status_code == 200
    assert error_of(http.get("/v1/models"), 401)["code"] == "invalid_auth_header"
