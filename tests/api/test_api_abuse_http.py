"""Abuse of the API over real HTTP: schemathesis over its OpenAPI document (no 5xx, every response as the
document describes it), and bearer tokens that were tampered with, expired, unsigned (``alg: none``) or signed
with another key: each a 401. (The route, role and account matrix, bursts past the rate limit and oversized
bodies are test_api_access_matrix.py, test_api_edge_http.py and test_api_bad_input_http.py.)
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from _api_server import RunningApi, serve_api
from conftest import OWN, ApiEnv, Keys
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.auth import Role, encode_jwt, token_for
from settings import Settings

pytestmark = pytest.mark.integration

SECRET = b"abuse-test-secret-of-32-bytes-or-more"
EXAMPLES_PER_OPERATION = 12  # bounded: the whole sweep runs in seconds
NEVER_ENDING = r"^/v1/stream"  # server-sent event streams answer for as long as the client listens
# Not checked: that every request the document allows is accepted. Business rules beyond the document (a
# quantity above 0 in a decimal string, a limit price on a limit order) are 422s with a body naming the field.


@pytest.fixture(scope="module")
def jwt_api(api_settings: Settings, keys: Keys) -> Iterator[RunningApi]:
    with serve_api(api_settings, jwt_secret=SECRET, rate_per_second=100_000.0, rate_burst=100_000) as api:
        yield api


def _b64(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    return {"sub": "abuse", "role": str(Role.TRADER), "accounts": [OWN], "exp": int(time.time()) + 300, **changes}


def _tampered() -> str:
    header, _, signature = encode_jwt(_claims(), SECRET).split(".")
    return f"{header}.{_b64(_claims(role=str(Role.ADMIN), accounts=['*']))}.{signature}"


BAD_TOKENS: dict[str, Callable[[], str]] = {
    "tampered claims": _tampered,
    "expired": lambda: token_for("abuse", Role.TRADER, [OWN], SECRET, int(time.time()) - 3600),
    "alg none": lambda: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}.",
    "alg none, signature kept": lambda: (
        f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}.{encode_jwt(_claims(), SECRET).split('.')[2]}"
    ),
    "signed with another key": lambda: encode_jwt(_claims(), b"another-secret-of-at-least-32-bytes!!"),
    "no expiry": lambda: encode_jwt({k: v for k, v in _claims().items() if k != "exp"}, SECRET),
    "truncated": lambda: encode_jwt(_claims(), SECRET)[:-5],
}


@pytest.mark.parametrize("name", list(BAD_TOKENS))
@pytest.mark.parametrize("request_", [("GET", "/v1/orders"), ("POST", "/v1/risk/kill-switch")], ids=["read", "write"])
def test_a_bad_bearer_token_is_401(jwt_api: RunningApi, name: str, request_: tuple[str, str]) -> None:
    method, path = request_
    headers = {"Authorization": f"Bearer {BAD_TOKENS[name]()}"}
    response = httpx.request(method, jwt_api.base_url + path, headers=headers, json={}, timeout=10)
    assert response.status_code == 401, (name, response.status_code, response.text[:300])
    assert response.json()["reason"] == "UNAUTHENTICATED"


def test_the_good_token_they_were_made_from_is_accepted(jwt_api: RunningApi) -> None:
    headers = {"Authorization": f"Bearer {encode_jwt(_claims(), SECRET)}"}
    assert httpx.get(jwt_api.base_url + "/v1/orders", headers=headers, timeout=10).status_code == 200


def test_no_5xx_and_every_response_matches_the_document(api_env: ApiEnv) -> None:
    """Every operation, EXAMPLES_PER_OPERATION generated requests each (valid and invalid ones, as an admin),
    every schemathesis check on each answer; all failures reported at once."""
    document = schemathesis.openapi.from_url(api_env.api.base_url + "/openapi.json").exclude(path_regex=NEVER_ENDING)
    failures: dict[str, str] = {}
    operations = 0
    for result in document.get_all_operations():
        if isinstance(result, Err):
            failures[f"unreadable operation #{operations}"] = str(result.err())
            continue
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,  # the same examples on every run: a failure is reproducible
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: report, do not spend minutes minimising
        )
        def call(case: Any) -> None:
            case.call_and_validate(
                headers={"X-API-Key": api_env.keys.admin}, timeout=15, excluded_checks=[positive_data_acceptance]
            )

        try:
            call()
        except (
            Exception,
            BaseExceptionGroup,
        ) as error:  # every operation is tried; the failures are listed together below
            failures[operation.label] = f"{type(error).__name__}: {str(error)[:1500]}"
    assert operations >= 15
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
