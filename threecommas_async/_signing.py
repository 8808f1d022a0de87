"""Request signing for 3Commas: HMAC-SHA256 (system keys) and RSA (self-generated keys).

The signed message is the request target exactly as it goes on the wire: the URL path including
``/public/api``, the raw query string, and for requests with a body the exact body bytes. HMAC puts a
``?`` between path and body; RSA concatenates them. Signing the bytes that are actually sent (never a
re-encoding of them) is what keeps client and server in agreement.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING, Final, Protocol

from yarl import URL

if TYPE_CHECKING:
    from aiohttp import ClientRequest, ClientResponse
    from aiohttp.client_middlewares import ClientHandlerType

__all__ = [
    "HMACSigner",
    "RSASigner",
    "Signer",
    "SigningMiddleware",
    "check_api_key",
    "make_signer",
    "signed_message",
]

DEFAULT_BASE_URL: Final = "https://api.3commas.io/public/api"
APIKEY_HEADER: Final = "Apikey"
SIGNATURE_HEADER: Final = "Signature"


class Signer(Protocol):
    """Anything that turns a signed message into the value of the ``Signature`` header."""

    @property
    def scheme(self) -> str: ...

    def sign(self, message: bytes) -> str: ...


class HMACSigner:
    """Lowercase hex HMAC-SHA256 over the message."""

    __slots__ = ("_template",)
    scheme: Final = "hmac"

    def __init__(self, secret: str | bytes) -> None:
        if isinstance(secret, str):
            secret = secret.encode()
        if not secret:
            raise ValueError("api_secret is empty")
        # Keying HMAC once and copying the keyed state per request saves the key schedule on every call.
        self._template = hmac.new(secret, digestmod=hashlib.sha256)

    def sign(self, message: bytes) -> str:
        h = self._template.copy()
        h.update(message)
        return h.hexdigest()

    def __repr__(self) -> str:
        return "HMACSigner(secret=<hidden>)"


class RSASigner:
    """RSASSA-PKCS1-v1_5 with SHA-256 over the message, standard Base64."""

    __slots__ = ("_key",)
    scheme: Final = "rsa"

    def __init__(self, private_key: str | bytes) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        if isinstance(private_key, str):
            private_key = private_key.encode()
        try:
            key = serialization.load_pem_private_key(private_key, password=None)
        except (ValueError, TypeError):
            # Never chain the parser's exception: its message could quote the key material.
            raise ValueError("private_key is not an unencrypted PEM private key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"private_key must be an RSA key, not {type(key).__name__}")
        self._key = key

    def sign(self, message: bytes) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        raw = self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode("ascii")

    def __repr__(self) -> str:
        return "RSASigner(private_key=<hidden>)"


def _looks_wrong(value: str | bytes) -> str | None:
    """What is visibly wrong with a key or secret (never quoting it), or None."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if not text.strip():
        return "is empty or only whitespace"
    if "-----BEGIN" in text:
        return "looks like a PEM key"
    if text != text.strip():
        return "has leading or trailing whitespace (a newline from a file or a paste?)"
    if any(c.isspace() or not c.isprintable() for c in text):
        return "contains whitespace or control characters"
    return None


def check_api_key(api_key: object) -> None:
    """``ValueError`` for an API key that cannot be right, saying what looks wrong, never its value."""
    if not isinstance(api_key, str):
        raise ValueError(f"api_key must be a string, not {type(api_key).__name__}")
    problem = _looks_wrong(api_key)
    if problem is not None:
        raise ValueError(f"api_key {problem}")


def make_signer(api_secret: str | bytes | None, private_key: str | bytes | None) -> HMACSigner | RSASigner:
    """Build the signer for exactly one of the two key kinds; reject material that cannot be right with a
    ``ValueError`` that says what looks wrong (never echoing it)."""
    if api_secret is not None and private_key is not None:
        raise ValueError("pass either api_secret (HMAC key) or private_key (RSA key), not both")
    if api_secret is not None:
        if not isinstance(api_secret, str | bytes):
            raise ValueError(f"api_secret must be a string, not {type(api_secret).__name__}")
        problem = _looks_wrong(api_secret)
        if problem == "looks like a PEM key":
            raise ValueError("api_secret looks like a PEM private key: pass an RSA key as private_key=")
        if problem is not None:
            raise ValueError(f"api_secret {problem}")
        return HMACSigner(api_secret)
    if private_key is not None:
        return RSASigner(private_key)
    raise ValueError("one of api_secret (HMAC key) or private_key (RSA key) is required")


def signed_message(scheme: str, raw_path: str, raw_query: str, body: bytes | None) -> bytes:
    """The bytes 3Commas signs: ``path[?query]`` then, for a body, ``?body`` (HMAC) or ``body`` (RSA).

    3Commas documents a query *or* a body; a request with both gets the body appended after the query
    with the same rule, which is what this SDK and its fake server agree on.
    """
    message = raw_path.encode()
    if raw_query:
        message += b"?" + raw_query.encode()
    if body:
        message += (b"?" + body) if scheme == "hmac" and not raw_query else body
    return message


class SigningMiddleware:
    """aiohttp client middleware that adds ``Apikey`` and ``Signature`` to requests for 3Commas.

    Use it with your own session::

        session = aiohttp.ClientSession(middlewares=(SigningMiddleware(key, api_secret=secret),))

    Only requests under ``base_url`` (same scheme, host and port, path below its path) are signed; any
    other request, a redirect to another host included, passes through without key or signature.
    """

    __slots__ = ("_api_key", "_origin", "_prefix", "_signer")

    def __init__(
        self,
        api_key: str,
        api_secret: str | bytes | None = None,
        private_key: str | bytes | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
    ) -> None:
        check_api_key(api_key)
        self._api_key = api_key
        self._signer = make_signer(api_secret, private_key)
        base = URL(base_url)
        if not base.is_absolute():
            raise ValueError(f"base_url must be an absolute URL, got {base_url!r}")
        self._origin = base.origin()
        self._prefix = base.raw_path.rstrip("/") + "/"

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        url = request.url
        if url.origin() != self._origin or not url.raw_path.startswith(self._prefix):
            return await handler(request)
        body = request.body
        data = await body.as_bytes() if body else None
        message = signed_message(
            self._signer.scheme, request.url.raw_path, request.url.raw_query_string, data
        )
        request.headers[APIKEY_HEADER] = self._api_key
        request.headers[SIGNATURE_HEADER] = self._signer.sign(message)
        try:
            return await handler(request)
        finally:
            # aiohttp's own errors (raise_for_status, redirects, oversized headers) show the request's
            # headers through a live view: once sent, the key and the signature are hidden there.
            request.headers[APIKEY_HEADER] = "<hidden>"
            request.headers[SIGNATURE_HEADER] = "<hidden>"

    def __repr__(self) -> str:
        return f"SigningMiddleware(scheme={self._signer.scheme!r}, secret=<hidden>)"
