"""Signature verification of the fake, from the bytes exactly as received.

The message is rebuilt with the SDK's own :func:`~threecommas_async._signing.signed_message` from the
raw request target (path including ``/public/api``, query string byte for byte) and the raw body. For
HMAC keys with a body, both ``path?body`` and ``path+body`` are accepted (wrappers in the wild send
either); RSA keys accept only ``path+body``, as 3Commas documents.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import TYPE_CHECKING

from threecommas_async._signing import HMACSigner, signed_message

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

__all__ = ["HMACKey", "RSAKey", "load_rsa_public_key"]


class HMACKey:
    __slots__ = ("_signer",)
    scheme = "hmac"

    def __init__(self, secret: str | bytes) -> None:
        self._signer = HMACSigner(secret)

    def _matches(self, message: bytes, signature: str) -> bool:
        # 3Commas documents the hex as case-insensitive; compare_digest keeps the time constant.
        return hmac.compare_digest(self._signer.sign(message), signature.lower())

    def verify(self, path: str, query: str, body: bytes, signature: str) -> bool:
        if not signature.isascii():
            return False
        message = signed_message("hmac", path, query, body)
        if self._matches(message, signature):
            return True
        if body:
            # The other convention: "?" between path and body when the SDK's rule would not put one,
            # and no "?" when it would.
            base = signed_message("hmac", path, query, None)
            alt = base + body if message == base + b"?" + body else base + b"?" + body
            return self._matches(alt, signature)
        return False

    def __repr__(self) -> str:
        return "HMACKey(secret=<hidden>)"


class RSAKey:
    __slots__ = ("_key",)
    scheme = "rsa"

    def __init__(self, public_key: RSAPublicKey) -> None:
        self._key = public_key

    def verify(self, path: str, query: str, body: bytes, signature: str) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            return False
        try:
            self._key.verify(
                raw, signed_message("rsa", path, query, body), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return "RSAKey(<public key>)"


def load_rsa_public_key(pem: str | bytes) -> RSAPublicKey:
    """An RSA public key from a PEM public key, or from a PEM private key (its public half)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key: object = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            # Only the public half is kept, so the private key's (60 ms) consistency check buys nothing.
            private = serialization.load_pem_private_key(
                data, password=None, unsafe_skip_rsa_key_validation=True
            )
            key = private.public_key()
        except (ValueError, TypeError):
            raise ValueError("public_key is not a PEM RSA public (or private) key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"public_key must be an RSA key, not {type(key).__name__}")
    return key
