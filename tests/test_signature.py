"""The webhook signature check."""
from __future__ import annotations

import pytest

from syncd.errors import SignatureError
from syncd.inbox.signature import generate_secret, sign, verify

VECTOR = "sha256=162f107f6b5022353274eb1a7197885cfd35744d8d08e5bcea025d309386b7d6"


def test_discourse_spec_vector_verifies():
    """Discourse's own spec vector (secret, ping body) verifies."""
    verify("my_lovely_secret_for_web_hook", b'{"ping":"OK"}', VECTOR)
    assert sign("my_lovely_secret_for_web_hook", b'{"ping":"OK"}') == VECTOR


@pytest.mark.parametrize("header, why", [
    (None, "missing"),
    ("", "missing"),
    ("sha1=abc", "sha256="),
    ("sha256=" + "0" * 64, "does not match"),
    (VECTOR.upper().replace("SHA256=", "sha256=") + "00", "does not match"),
])
def test_bad_signatures_are_refused(header, why):
    """Missing, malformed and forged signatures raise SignatureError saying why."""
    with pytest.raises(SignatureError, match=why):
        verify("my_lovely_secret_for_web_hook", b'{"ping":"OK"}', header)


def test_signature_is_over_the_raw_bytes():
    """Re-serialised JSON (spaces) does not verify: the raw body is what is signed."""
    with pytest.raises(SignatureError):
        verify("my_lovely_secret_for_web_hook", b'{"ping": "OK"}', VECTOR)


def test_generated_secret_meets_discourse_minimum():
    """A generated secret is long enough for Discourse (12+) and differs each time."""
    a, b = generate_secret(), generate_secret()
    assert len(a) >= 12 and a != b
