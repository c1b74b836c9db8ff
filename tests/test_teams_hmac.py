"""Teams' outgoing-webhook HMAC, checked against vectors computed as Microsoft's samples do.

Microsoft's docs ("Create an Outgoing Webhook", MicrosoftDocs/msteams-docs
add-outgoing-webhook.md) and samples (OfficeDev/Microsoft-Teams-Samples
samples/outgoing-webhook/: nodejs/app.js, csharp/Models/AuthProvider.cs,
python_awslambda/index.py) compute base64(HMAC-SHA256(base64-decoded security token,
UTF-8 body)) and send ``Authorization: HMAC <that>``. The two vectors below were computed
with Node's crypto and Python's hmac (identical); the docs' own example header has no body
to go with it, so it cannot be one.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from standins import reference
from syncd.errors import SignatureError
from syncd.inbox.teams import sign, verify

DOCS_KEY = "vqF0En+Z0ucuRTM/01o2GuhMH3hKKk/N2bOmlM31zaA="   # the sample key in Microsoft's docs
SHORT = b'{"type":"message","text":"<at>Helper</at> status 42"}'
VECTORS = [
    (SHORT, "HMAC fQWC8EtXSeVJba0V7t8tEZ0b/ewoDyX1MJxIiAn+a2Q="),
    (reference("teams-outgoing-webhook-request.json").read_bytes(),
     "HMAC 4dFQjIlRlrewdUp1YojXwXuibdj4i7wfblmF841y2b0="),
]


def node_sample(shared_secret: str, payload: str) -> str:
    """nodejs/app.js: createHmac('sha256', Buffer(sharedSecret, 'base64'))
    .update(Buffer.from(payload, 'utf8')).digest('base64'), prefixed 'HMAC '."""
    key = base64.b64decode(shared_secret)
    return "HMAC " + base64.b64encode(hmac.new(key, payload.encode("utf-8"),
                                               hashlib.sha256).digest()).decode()


def lambda_sample(shared_secret: str, payload: str) -> str:
    """python_awslambda/index.py: urlsafe_b64decode(SHARED_SECRET), the same HMAC."""
    key = base64.urlsafe_b64decode(shared_secret)
    return "HMAC %s" % base64.b64encode(hmac.new(key, msg=payload.encode("utf-8"),
                                                 digestmod=hashlib.sha256).digest()).decode()


@pytest.mark.parametrize("body,header", VECTORS)
def test_syncd_signs_as_microsofts_samples_do(body, header):
    """sign() gives the vector, and so do the Node and Lambda samples' computations."""
    assert sign(DOCS_KEY, body) == header
    assert node_sample(DOCS_KEY, body.decode("utf-8")) == header
    assert lambda_sample(DOCS_KEY, body.decode("utf-8")) == header


@pytest.mark.parametrize("body,header", VECTORS)
def test_a_vector_verifies(body, header):
    """The header Teams would send is accepted for the raw body."""
    verify(DOCS_KEY, body, header)


@pytest.mark.parametrize("header", [
    None, "", "HMAC", "HMAC ", "Bearer fQWC8EtXSeVJba0V7t8tEZ0b/ewoDyX1MJxIiAn+a2Q=",
    "hmac fQWC8EtXSeVJba0V7t8tEZ0b/ewoDyX1MJxIiAn+a2Q=",          # the C# sample's scheme check
    "HMAC fQWC8EtXSeVJba0V7t8tEZ0b/ewoDyX1MJxIiAn+a2Q",            # one character short
    "HMAC gQWC8EtXSeVJba0V7t8tEZ0b/ewoDyX1MJxIiAn+a2Q=",
    "HMAC ñ",
])
def test_a_wrong_or_missing_header_is_refused(header):
    """Missing header, another scheme, or another signature: SignatureError (401)."""
    with pytest.raises(SignatureError):
        verify(DOCS_KEY, SHORT, header)


def test_the_raw_body_is_what_is_signed():
    """Re-serialised JSON (a space more) no longer verifies: the bytes as received count."""
    with pytest.raises(SignatureError):
        verify(DOCS_KEY, SHORT.replace(b'","', b'", "'), VECTORS[0][1])


def test_an_empty_body_is_refused_as_the_csharp_sample_does():
    """AuthProvider.cs rejects empty messages before computing anything."""
    with pytest.raises(SignatureError, match="empty"):
        verify(DOCS_KEY, b"", sign(DOCS_KEY, b""))


def test_another_token_does_not_verify():
    """A signature made with another webhook's token is refused, with what to check."""
    other = base64.b64encode(b"\x01" * 32).decode()
    with pytest.raises(SignatureError, match="security_token"):
        verify(other, SHORT, VECTORS[0][1])


def test_several_webhooks_each_verify_with_their_own_token():
    """Comma-separated tokens (one outgoing webhook per team): either one's signature passes,
    a third token's does not."""
    other = base64.b64encode(b"\x02" * 32).decode()
    both = f"{other}, {DOCS_KEY}"
    verify(both, SHORT, VECTORS[0][1])
    verify(both, SHORT, sign(other, SHORT))
    with pytest.raises(SignatureError):
        verify(both, SHORT, sign(base64.b64encode(b"\x03" * 32).decode(), SHORT))
