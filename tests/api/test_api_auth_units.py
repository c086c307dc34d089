"""Unit tests of the API's pure parts: JWTs, key format, roles, the token bucket (no server, no broker)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.auth import (
    ALL_ACCOUNTS,
    Action,
    AuthError,
    Principal,
    Role,
    decode_jwt,
    encode_jwt,
    hash_api_key,
    key_id_of,
    new_api_key,
    parse_accounts,
    principal_from_claims,
)
from api.rate_limit import RateLimiter

SECRET = b"k" * 32
NOW = 1_767_225_600


def _claims(**overrides: object) -> dict[str, object]:
    return {"sub": "alice", "role": "trader", "accounts": ["A1"], "exp": NOW + 60, **overrides}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_jwt_round_trip_gives_the_principal() -> None:
    token = encode_jwt(_claims(), SECRET)
    principal = principal_from_claims(decode_jwt(token, SECRET, NOW))
    assert principal == Principal("jwt:alice", Role.TRADER, frozenset({"A1"}))


def test_jwt_signed_with_another_secret_is_refused() -> None:
    token = encode_jwt(_claims(), b"x" * 32)
    with pytest.raises(AuthError, match="signature"):
        decode_jwt(token, SECRET, NOW)


def test_jwt_with_edited_claims_is_refused() -> None:
    header, _, signature = encode_jwt(_claims(), SECRET).split(".")
    forged = _b64(json.dumps(_claims(role="admin", accounts=["*"])).encode())
    with pytest.raises(AuthError, match="signature"):
        decode_jwt(f"{header}.{forged}.{signature}", SECRET, NOW)


def test_jwt_naming_alg_none_is_refused_even_unsigned() -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    with pytest.raises(AuthError):
        decode_jwt(f"{header}.{payload}.", SECRET, NOW)


def test_jwt_expired_beyond_the_skew_is_refused_and_within_it_accepted() -> None:
    token = encode_jwt(_claims(exp=NOW - 10), SECRET)
    assert decode_jwt(token, SECRET, NOW)["sub"] == "alice"  # 10 s late: within the 30 s skew
    with pytest.raises(AuthError, match="expired"):
        decode_jwt(token, SECRET, NOW + 60)


def test_jwt_without_exp_is_refused() -> None:
    claims = _claims()
    del claims["exp"]
    with pytest.raises(AuthError, match="exp"):
        decode_jwt(encode_jwt(claims, SECRET), SECRET, NOW)


def test_jwt_not_yet_valid_is_refused() -> None:
    with pytest.raises(AuthError, match="not valid yet"):
        decode_jwt(encode_jwt(_claims(nbf=NOW + 3600), SECRET), SECRET, NOW)


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "!!!.???.***", "e30.e30.e30"])
def test_malformed_tokens_are_refused_not_crashing(token: str) -> None:
    with pytest.raises(AuthError):
        decode_jwt(token, SECRET, NOW)


@pytest.mark.parametrize(
    "claims",
    [_claims(role="root"), _claims(accounts="A1"), _claims(accounts=[]), _claims(sub=""), _claims(accounts=[1])],
)
def test_claims_without_a_valid_role_accounts_or_subject_are_refused(claims: dict[str, object]) -> None:
    with pytest.raises(AuthError):
        principal_from_claims(claims)


def test_new_keys_are_unique_and_only_their_hash_identifies_them() -> None:
    first, second = new_api_key(), new_api_key()
    assert first.key != second.key and first.key_id != second.key_id
    assert first.key_hash == hash_api_key(first.key) != hash_api_key(second.key)
    assert first.key not in first.key_hash
    assert key_id_of(first.key) == first.key_id


@pytest.mark.parametrize("key", ["", "sqk_", "sqk_abc_def", "nope_0123456789ab_" + "x" * 43, "sqk_0123456789ab"])
def test_malformed_keys_are_refused_before_any_lookup(key: str) -> None:
    with pytest.raises(AuthError):
        key_id_of(key)


def test_roles_allow_exactly_their_actions() -> None:
    trader = Principal("t", Role.TRADER, frozenset({"A1"}))
    risk = Principal("r", Role.RISK, frozenset({ALL_ACCOUNTS}))
    read_only = Principal("o", Role.READ_ONLY, frozenset({"A1"}))
    assert trader.may(Action.PLACE_ORDER) and not trader.may(Action.KILL_SWITCH)
    assert risk.may(Action.KILL_SWITCH) and risk.may(Action.SET_LIMITS) and not risk.may(Action.PLACE_ORDER)
    assert [a for a in Action if read_only.may(a)] == [Action.READ]
    assert all(Principal("a", Role.ADMIN, frozenset({"*"})).may(a) for a in Action)


def test_account_scope_of_a_principal() -> None:
    scoped = Principal("t", Role.TRADER, frozenset({"A1", "A2"}))
    everyone = Principal("r", Role.RISK, frozenset({ALL_ACCOUNTS}))
    assert scoped.sees("A1") and not scoped.sees("A3") and scoped.visible_accounts() == frozenset({"A1", "A2"})
    assert everyone.sees("anything") and everyone.visible_accounts() is None


def test_parse_accounts_refuses_empty_lists_and_star_among_others() -> None:
    assert parse_accounts(" A1, A2 ,") == {"A1", "A2"}
    with pytest.raises(ValueError, match="no accounts"):
        parse_accounts(" , ")
    with pytest.raises(ValueError, match="alone"):
        parse_accounts("*,A1")


def test_rate_limiter_allows_a_burst_then_says_how_long_to_wait() -> None:
    limiter = RateLimiter(rate_per_second=2.0, burst=3)
    assert [limiter.take("k", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("k", 100.0) == pytest.approx(0.5)
    assert limiter.take("k", 100.5) == 0.0  # one token came back
    assert limiter.take("other", 100.5) == 0.0  # buckets are per caller


@given(
    rate=st.floats(min_value=0.5, max_value=100.0),
    burst=st.integers(min_value=1, max_value=50),
    gaps=st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=1, max_size=200),
)
def test_rate_limiter_never_allows_more_than_burst_plus_refill(rate: float, burst: int, gaps: list[float]) -> None:
    limiter = RateLimiter(rate, burst)
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        if limiter.take("k", now) == 0.0:
            allowed += 1
        else:
            assert limiter.take("k", now) > 0.0  # a refused caller is told to wait
    assert allowed <= burst + rate * now + 1e-6
