"""Where the credentials come from (flags, then the environment), and the values no output may show.

Every message names the variable or flag a value came from, never the value. :class:`Secrets` is the
net under that rule: every line the command line prints passes through :meth:`Secrets.hide`, so even a
credential that reaches a message some other way (``smart-trades get $THREECOMMAS_API_SECRET``, a base
URL carrying a token in an error of the client) is replaced before it is written.
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from yarl import URL

from .._signing import DEFAULT_BASE_URL
from ._exit import UsageError

__all__ = [
    "CREDENTIAL_FLAGS",
    "ENV_API_KEY",
    "ENV_API_SECRET",
    "ENV_BASE_URL",
    "ENV_PRIVATE_KEY_FILE",
    "Credentials",
    "Secrets",
    "base_url",
    "clean",
    "resolve_credentials",
]

ENV_API_KEY: Final = "THREECOMMAS_API_KEY"
ENV_API_SECRET: Final = "THREECOMMAS_API_SECRET"
ENV_PRIVATE_KEY_FILE: Final = "THREECOMMAS_PRIVATE_KEY_FILE"
ENV_BASE_URL: Final = "THREECOMMAS_BASE_URL"
CREDENTIAL_FLAGS: Final = ("--api-key", "--api-secret", "--private-key-file", "--base-url")
"""Flags whose value is never repeated (the base URL may carry a token)."""
_FLAG_DEST: Final = {flag: flag[2:].replace("-", "_") for flag in CREDENTIAL_FLAGS}
_FLAG_ENV: Final = {
    "--api-key": ENV_API_KEY,
    "--api-secret": ENV_API_SECRET,
    "--private-key-file": ENV_PRIVATE_KEY_FILE,
    "--base-url": ENV_BASE_URL,
}

NOT_SHOWN: Final = "(not shown)"
BASE_URL_SHOWN: Final = "(the base URL)"
MIN_SECRET: Final = 4
"""Shorter values are not hidden: no real credential is that short (3Commas' are 64 characters), and
hiding every "k" or "1" would garble each message."""
KEY_FILE_LIMIT: Final = 64 * 1024


@dataclass(frozen=True)
class Credentials:
    """What the client is built with. ``repr`` never shows the secret or the private key."""

    api_key: str
    api_secret: str | None = field(default=None, repr=False)
    private_key: bytes | None = field(default=None, repr=False)
    private_key_source: str | None = None
    """The variable or flag that named the key file, for messages."""


def clean(value: str | None) -> str | None:
    """Surrounding whitespace and newlines (``$(cat secret.txt)``, a pasted line) are never part of a key,
    a secret, a path or a URL. Empty counts as unset."""
    if value is None:
        return None
    return value.strip() or None


def base_url(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    return clean(args.base_url) or clean(environ.get(ENV_BASE_URL)) or DEFAULT_BASE_URL


def resolve_credentials(args: argparse.Namespace, environ: Mapping[str, str]) -> Credentials:
    """Flags win over the environment. The secret material is taken as a whole from one place: if either
    ``--api-secret`` or ``--private-key-file`` is given, the environment's secret and key file are ignored.
    Empty variables count as unset. Messages name the variable or flag, never its value."""
    api_key = clean(args.api_key) or clean(environ.get(ENV_API_KEY))
    if args.api_secret is not None or args.private_key_file is not None:
        if args.api_secret is not None and args.private_key_file is not None:
            raise UsageError("pass either --api-secret or --private-key-file, not both")
        secret, key_file = clean(args.api_secret), clean(args.private_key_file)
        key_source = "--private-key-file"
    else:
        secret = clean(environ.get(ENV_API_SECRET))
        key_file = clean(environ.get(ENV_PRIVATE_KEY_FILE))
        key_source = ENV_PRIVATE_KEY_FILE
        if secret is not None and key_file is not None:
            raise UsageError(
                f"both {ENV_API_SECRET} and {ENV_PRIVATE_KEY_FILE} are set: unset one, "
                "or choose with --api-secret / --private-key-file"
            )
    missing = []
    if api_key is None:
        missing.append(f"the API key ({ENV_API_KEY} or --api-key)")
    if secret is None and key_file is None:
        missing.append(
            f"its secret ({ENV_API_SECRET} or --api-secret) "
            f"or RSA private key file ({ENV_PRIVATE_KEY_FILE} or --private-key-file)"
        )
    if missing:
        raise UsageError("missing credentials: " + " and ".join(missing))
    assert api_key is not None
    private_key: bytes | None = None
    if key_file is not None:
        if _looks_like_a_key(key_file):
            raise UsageError(
                f"{key_source} looks like key contents, not a path: save the PEM key in a file "
                "(readable only by you) and give its path"
            )
        try:
            with open(key_file, "rb") as f:
                private_key = f.read()
        except OSError as exc:
            # strerror only: str(exc) would repeat the path
            raise UsageError(
                f"cannot read the private key file named by {key_source}: "
                f"{exc.strerror or type(exc).__name__}"
            ) from None
    return Credentials(api_key, secret, private_key, key_source if private_key is not None else None)


def _looks_like_a_key(path: str) -> bool:
    return "-----BEGIN" in path or "\n" in path or "\r" in path


# -- the values no output may show ----------------------------------------------------------------------
@dataclass(frozen=True)
class Secrets:
    """Credential values (and the base URL) with what to print in their place, longest first."""

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def collect(cls, environ: Mapping[str, str], flags: Mapping[str, str | None]) -> Secrets:
        """From the environment and the credential flags given (``{"--api-secret": value, ...}``),
        whether or not they will be used: a value is a secret wherever it shows up."""
        found: dict[str, str] = {}
        for flag, env in _FLAG_ENV.items():
            for value in (flags.get(flag), environ.get(env)):
                if not value:
                    continue
                if flag == "--private-key-file":
                    for part in _key_file_parts(value):
                        found.setdefault(part, NOT_SHOWN)
                elif flag == "--base-url":
                    for part in _base_url_parts(value):
                        found.setdefault(part, BASE_URL_SHOWN)
                else:
                    for part in _forms(value):
                        found[part] = NOT_SHOWN
        pairs = sorted(((v, label) for v, label in found.items() if len(v) >= MIN_SECRET), key=_longest)
        return cls(tuple(pairs))

    @classmethod
    def from_args(cls, environ: Mapping[str, str], args: argparse.Namespace) -> Secrets:
        return cls.collect(environ, {flag: getattr(args, dest, None) for flag, dest in _FLAG_DEST.items()})

    @classmethod
    def from_argv(cls, environ: Mapping[str, str], argv: Sequence[str]) -> Secrets:
        """For a command line that did not parse: the credential flags' values as written."""
        flags: dict[str, str | None] = {}
        for i, token in enumerate(argv):
            name, eq, value = token.partition("=")
            if name in _FLAG_DEST:
                flags[name] = value if eq else (argv[i + 1] if i + 1 < len(argv) else None)
        return cls.collect(environ, flags)

    def hide(self, text: str) -> str:
        for value, label in self.pairs:
            if value in text:
                text = text.replace(value, label)
        return text


def _longest(pair: tuple[str, str]) -> int:
    return -len(pair[0])


def _forms(value: str) -> Iterator[str]:
    """The value as given, without its surrounding whitespace, and as ``repr`` escapes it (argparse
    quotes words with ``repr``)."""
    yield value
    yield value.strip()
    yield repr(value)[1:-1]
    yield repr(value.strip())[1:-1]


def _key_file_parts(path: str) -> Iterator[str]:
    """The contents of the key file and each of its lines (a PEM body is base64 lines): a pasted key
    must not show, whole or in part. An unreadable file has nothing to hide."""
    path = path.strip()
    if not path or _looks_like_a_key(path):
        yield from _forms(path)  # the key itself, given where its path belongs
        for line in path.splitlines():
            if not line.startswith("-----"):
                yield line.strip()
        return
    try:
        with open(path, "rb") as f:
            text = f.read(KEY_FILE_LIMIT).decode("utf-8", "replace")
    except OSError:
        return
    yield from _forms(text)
    for line in text.splitlines():
        if not line.startswith("-----"):  # "-----BEGIN PRIVATE KEY-----" is no secret
            yield line.strip()


def _base_url_parts(value: str) -> Iterator[str]:
    """A base URL may carry a token in its path or its host name: never shown, nor its origin or host
    (what connection errors name). An IP address or localhost carries no token and stays readable."""
    yield from _forms(value)
    try:
        url = URL(value.strip())
    except (ValueError, TypeError):
        return
    if not url.is_absolute() or not url.host:
        return
    yield str(url).rstrip("/")
    yield str(url.origin())
    host = url.host
    if host != URL(DEFAULT_BASE_URL).host and host != "localhost" and not _is_ip(host):
        yield host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
