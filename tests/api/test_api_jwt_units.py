"""JWTs through PyJWT: tokens any standard issuer signs are accepted, the algorithm allow-list and the leeway
hold at their edges (test_api_auth_units.py has the forged, alg none, expired and wrong-signature cases)."""

from __future__ import annotations

import jwt
import pytest

from api.auth import CLOCK_SKEW_S, JWT_ALGORITHMS, AuthError, decode_jwt, encode_jwt

SECRET = b"s" * 64  # long enough for HS512 too: PyJWT warns below the hash size
NOW = 1_767_225_600


def _claims(**overrides: object) -> dict[str, object]:
    return {"sub": "alice", "role": "trader", "accounts": ["A1"], "exp": NOW + 60, **overrides}


def test_a_token_from_another_hs256_issuer_is_accepted_and_ours_read_by_it() -> None:
    theirs = jwt.encode(_claims(), SECRET, algorithm="HS256")
    assert decode_jwt(theirs, SECRET, NOW)["sub"] == "alice"
    ours = encode_jwt(_claims(), SECRET)
    assert jwt.get_unverified_header(ours) == {"alg": "HS256", "typ": "JWT"}
    assert jwt.decode(ours, SECRET, algorithms=["HS256"], options={"verify_exp": False})["role"] == "trader"


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_a_token_signed_with_our_secret_but_another_algorithm_is_refused(algorithm: str) -> None:
    assert algorithm not in JWT_ALGORITHMS
    with pytest.raises(AuthError, match="algorithm"):
        decode_jwt(jwt.encode(_claims(), SECRET, algorithm=algorithm), SECRET, NOW)


def test_the_leeway_ends_exactly_clock_skew_seconds_after_exp() -> None:
    token = encode_jwt(_claims(exp=NOW), SECRET)
    assert decode_jwt(token, SECRET, NOW + CLOCK_SKEW_S - 1)["sub"] == "alice"
    with pytest.raises(AuthError, match="expired"):
        decode_jwt(token, SECRET, NOW + CLOCK_SKEW_S)


def test_nbf_within_the_leeway_is_accepted() -> None:
    assert decode_jwt(encode_jwt(_claims(nbf=NOW + CLOCK_SKEW_S), SECRET), SECRET, NOW)["sub"] == "alice"


@pytest.mark.parametrize("claims", [_claims(exp="soon"), _claims(exp=True), _claims(nbf="later"), _claims(exp=None)])
def test_exp_or_nbf_that_is_not_a_number_is_refused(claims: dict[str, object]) -> None:
    with pytest.raises(AuthError):
        decode_jwt(encode_jwt(claims, SECRET), SECRET, NOW)


def test_a_subject_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(AuthError):
        decode_jwt(encode_jwt(_claims(sub=42), SECRET), SECRET, NOW)
