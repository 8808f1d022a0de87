"""The bytes of faulted answers: edge HTML pages, deep JSON, gzip bombs, ``respond`` bodies, endless chunks.

Everything here is built cheaply and once: a gzip bomb of 2 GiB is ~2 MiB of deflate blocks made from one
compressed MiB of zeros, repeated, with the CRC of the zeros computed in O(log n); it is cached per size.
"""

from __future__ import annotations

import functools
import struct
import zlib
from typing import Any, Final

import msgspec
from multidict import CIMultiDict

__all__ = [
    "ENDLESS_CHUNK",
    "deep_json",
    "gzip_bomb",
    "html_page",
    "respond_body",
    "respond_headers",
]

_encode = msgspec.json.encode
_decode = msgspec.json.decode

_HTML_PAGE: Final = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
REASONS: Final = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}
JSON_TYPE: Final = "application/json; charset=utf-8"

#: One chunk of the ``endless`` body after its opening ``[``: a JSON array that never closes.
ENDLESS_CHUNK: Final = b'{"id": 0, "status": {"type": "waiting_targets"}}, ' * 256


def html_page(status: int) -> bytes:
    """An nginx-like error page."""
    return _HTML_PAGE.format(status=status, reason=REASONS.get(status, "Error")).encode()


def deep_json(body: bytes | None, depth: int, trade_id: int) -> bytes:
    """``body`` (a JSON object or array) with ``"x": [[[...]]]`` (``depth`` arrays) added as its last
    member; without a JSON object or array, ``{"id": trade_id, "x": ...}``."""
    nested = b"[" * depth + b"]" * depth
    if body and body[:1] == b"{" and body[-1:] == b"}":
        sep = b"," if body.strip(b"{} \t\r\n") else b""
        return body[:-1] + sep + b'"x":' + nested + b"}"
    if body and body[:1] == b"[" and body[-1:] == b"]":
        sep = b"," if body.strip(b"[] \t\r\n") else b""
        return body[:-1] + sep + nested + b"]"
    return b'{"id":' + str(trade_id).encode() + b',"x":' + nested + b"}"


# --------------------------------------------------------------------------------------------- gzip bomb

_CHUNK: Final = 1 << 20
_CRC_POLY: Final = 0xEDB88320


def _gf2_times(matrix: list[int], vector: int) -> int:
    """A 32x32 matrix over GF(2) (one int per column) times a 32-bit vector."""
    out = 0
    for column in matrix:
        if not vector:
            break
        if vector & 1:
            out ^= column
        vector >>= 1
    return out


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, column) for column in matrix]


def zeros_crc32(n: int) -> int:
    """``zlib.crc32(bytes(n))`` in O(log n): over zero bytes the CRC register evolves linearly, so the
    operator "one zero byte" is raised to the n-th power by squaring (zlib's crc32_combine trick)."""
    operator = [_CRC_POLY] + [1 << k for k in range(31)]  # one zero bit
    for _ in range(3):
        operator = _gf2_square(operator)  # 2, 4, 8 zero bits: one zero byte
    register = 0xFFFFFFFF
    while n:
        if n & 1:
            register = _gf2_times(operator, register)
        n >>= 1
        if n:
            operator = _gf2_square(operator)
    return register ^ 0xFFFFFFFF


@functools.lru_cache(maxsize=4)
def gzip_bomb(size: int) -> bytes:
    """A valid gzip member that inflates to ``size`` zero bytes, ~1/1000 of that compressed.

    After ``Z_FULL_FLUSH`` the compressor forgets its history, so every further MiB of zeros
    compresses to the very same bytes: they are made once and repeated.
    """
    zeros = bytes(_CHUNK)
    full, rest = divmod(size, _CHUNK)
    c = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    parts = [c.compress(zeros if full else zeros[:rest]) + c.flush(zlib.Z_FULL_FLUSH)]
    if full > 1:
        block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
        parts.append(block * (full - 1))
    end = c.compress(zeros[:rest] if full else b"") + c.flush(zlib.Z_FINISH)
    # The trailer zlib wrote counts only what it saw: CRC-32 and length of the whole, little-endian.
    parts.append(end[:-8] + struct.pack("<II", zeros_crc32(size), size & 0xFFFFFFFF))
    return b"".join(parts)


# ---------------------------------------------------------------------------------------------- respond


def respond_body(body: Any, processed: bytes | None) -> bytes:
    """The bytes of a ``respond`` answer: ``body`` as bytes, JSON-encoded, or (callable) built from the
    processed answer's JSON; ``None``: the processed body, else nothing."""
    if callable(body):
        answer = _decode(processed) if processed else None
        body = body(answer)
    if body is None:
        return processed or b""
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    return _encode(body)


def respond_headers(headers: tuple[tuple[str, str], ...] | None, body: bytes) -> CIMultiDict[str]:
    """The headers in the order given, duplicates kept; JSON's Content-Type when a body has none."""
    out: CIMultiDict[str] = CIMultiDict(headers or ())
    if body and "Content-Type" not in out:
        out["Content-Type"] = JSON_TYPE
    return out
