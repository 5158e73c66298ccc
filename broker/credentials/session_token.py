"""Sealed session tokens: everything a later request needs, AES-256-GCM under a keyring key.

DESIGN.md §4 "Session tokens are sealed, not looked up". AWS says of ``Credentials.SessionToken`` only
that callers must make no assumption about its size or content (AWS STS API Reference, Data Types,
"Credentials", https://docs.aws.amazon.com/STS/latest/APIReference/API_Credentials.html); broker's
token is compact, URL-safe base64 text (no padding) of::

    header = 0x01 (version) | len(kid) (1 byte) | kid (ASCII)
    token  = header | nonce (12 bytes) | AES-256-GCM(key[kid], nonce, zlib(JSON claims), aad=header)

The header is the associated data, so the key id cannot be swapped and the version cannot be
downgraded. Opening fails closed: anything that is not a token sealed by a key we hold is
``InvalidClientTokenId`` ("The security token included in the request is invalid."), a token past its
expiry is ``ExpiredToken`` ("The security token included in the request is expired"), the wording of
AWS STS API Reference "Common Errors" (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html).
``open_at`` is the explicit-time twin of ``open`` (cryptography's ``decrypt_at_time`` habit).

The JSON claims carry a payload version ``v``. Version 1 (no ``v`` member; every token sealed before it existed)
and version 2 open; any other version is refused. Version 2 adds ``fk``: the web-identity condition keys that
AWS carries from the ID token into requests made with the session (``PREFIX:sub``, ``:aud``, ``:amr``, ``:id``;
IAM User Guide, "Available keys for AWS OIDC federation",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif),
as ``{key: string or list of strings}``. A version 1 token with ``fk`` is refused (fail closed).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidTag

from broker.clock import Clock
from broker.credentials.keyring import KeyMaterial, Keyring
from broker.errors import ExpiredToken, InvalidClientTokenId
from broker.ids import Entropy

__all__ = [
    "EXPIRED_TOKEN",
    "INVALID_TOKEN",
    "MAX_TOKEN_CHARS",
    "SessionClaims",
    "SessionKind",
    "SessionTokenCodec",
    "pack_claims",
]

INVALID_TOKEN = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"
MAX_TOKEN_CHARS = 8192
"""Refuse anything longer before decoding (a sealed token with a full session policy is ~2 KB)."""
_MAX_PLAINTEXT = 64 * 1024
_VERSION = 1
"""Token format (header byte, the associated data); unchanged by payload versions."""
_PAYLOAD_VERSION = 2
_PAYLOAD_VERSIONS = frozenset({1, 2})
_NONCE = 12

SessionKind = Literal["assumed-role", "user", "root", "federated-user"]


@dataclass(frozen=True)
class SessionClaims:
    """The content of one session token.

    ``principal_arn``/``principal_id``/``principal_name`` name the IAM entity whose policies apply: the
    role (``AROA…``) for a role session, the user (``AIDA…``) or root (the account id) for
    ``GetSessionToken`` credentials. ``session_id`` identifies the session for revocation.
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    kind: SessionKind
    account: str
    principal_arn: str
    principal_id: str
    principal_name: str
    issued_at: datetime
    expires_at: datetime
    session_id: str
    session_name: str | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    mfa_authenticated_at: datetime | None = None
    chain_depth: int = 0
    federated_provider: str | None = None
    federated_subject: str | None = None
    federated_keys: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
    """Web-identity condition keys carried into later requests (module docstring), in token order."""

    def __repr__(self) -> str:
        return (
            f"SessionClaims(access_key_id={self.access_key_id!r}, secret_access_key=**********, kind={self.kind!r}, "
            f"principal_arn={self.principal_arn!r}, session_name={self.session_name!r}, "
            f"session_id={self.session_id!r}, expires_at={self.expires_at.isoformat()})"
        )

    @property
    def mfa_present(self) -> bool:
        return self.mfa_authenticated_at is not None

    @property
    def transitive_tags(self) -> tuple[tuple[str, str], ...]:
        wanted = {k.lower() for k in self.transitive_tag_keys}
        return tuple((k, v) for k, v in self.tags if k.lower() in wanted)


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _time(value: Any) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("time is not an integer")
    return datetime.fromtimestamp(value, tz=UTC)


_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""``json.dumps(..., separators=(",", ":"), ensure_ascii=False)`` without building an encoder per call."""
_escape: Callable[[str], str] = json.encoder.encode_basestring
"""The string escaping that encoder uses (``ensure_ascii=False``): a quoted JSON string, in C."""
_SMALL_WINDOW_BITS = 12
_SMALL_MEM_LEVEL = 6
_SMALL_PAYLOAD = (1 << _SMALL_WINDOW_BITS) - 262
"""zlib's longest match distance in a 2**12 window (window size minus MIN_LOOKAHEAD): up to this many bytes the
small window reaches every earlier byte, as the default 2**15 one does; larger payloads keep the default."""


def _deflate(raw: bytes) -> bytes:
    """zlib (RFC 1950) at level 9. Payloads that fit the small window are deflated with a 4 KiB window and
    memLevel 6 (one Huffman block up to 4,096 symbols): ~48 KB of zlib state instead of ~260 KB, which costs
    more to allocate and clear than the deflating itself (docs/performance.md, issue 5). Any zlib inflater
    opens both: the stream header names its window, and the default inflater accepts every window."""
    if len(raw) > _SMALL_PAYLOAD:
        return zlib.compress(raw, 9)
    deflater = zlib.compressobj(9, zlib.DEFLATED, _SMALL_WINDOW_BITS, _SMALL_MEM_LEVEL)
    return deflater.compress(raw) + deflater.flush()


def _claims_json(claims: SessionClaims) -> str:
    """:func:`_claims_json_general`'s text, written directly: each string escaped by the encoder's own C function
    (``ensure_ascii=False``), numbers and punctuation formatted in place. Any value of another type than the
    fields declare takes the general form (tests/unit/credentials/test_mint_fast_paths.py holds them equal)."""
    try:
        return _claims_json_direct(claims)
    except TypeError:
        return _claims_json_general(claims)


def _strings_json(values: Any) -> str:
    return "[" + ",".join([_escape(v) for v in values]) + "]"


def _claims_json_direct(claims: SessionClaims) -> str:
    e = _escape
    depth = claims.chain_depth
    if depth.__class__ is not int:
        raise TypeError("chain depth is not an int")
    parts = [
        f'{{"v":{_PAYLOAD_VERSION},"ak":{e(claims.access_key_id)},"sk":{e(claims.secret_access_key)},'
        f'"k":{e(claims.kind)},"a":{e(claims.account)},"pa":{e(claims.principal_arn)},"pi":{e(claims.principal_id)},'
        f'"pn":{e(claims.principal_name)},"iat":{_epoch(claims.issued_at)},"exp":{_epoch(claims.expires_at)},'
        f'"sid":{e(claims.session_id)}'
    ]
    if claims.session_name is not None:
        parts.append(f',"sn":{e(claims.session_name)}')
    if claims.policy is not None:
        parts.append(f',"p":{e(claims.policy)}')
    if claims.policy_arns:
        parts.append(f',"pm":{_strings_json(claims.policy_arns)}')
    if claims.tags:
        parts.append(',"tg":[' + ",".join([_strings_json(t) for t in claims.tags]) + "]")
    if claims.transitive_tag_keys:
        parts.append(f',"tt":{_strings_json(claims.transitive_tag_keys)}')
    if claims.source_identity is not None:
        parts.append(f',"si":{e(claims.source_identity)}')
    if claims.mfa_authenticated_at is not None:
        parts.append(f',"mfa":{_epoch(claims.mfa_authenticated_at)}')
    if depth:
        parts.append(f',"cd":{depth}')
    if claims.federated_provider is not None:
        parts.append(f',"fp":{e(claims.federated_provider)}')
    if claims.federated_subject is not None:
        parts.append(f',"fs":{e(claims.federated_subject)}')
    if claims.federated_keys:
        members = []
        for key, value in dict(claims.federated_keys).items():  # a repeated key: the last value, first place
            if isinstance(value, tuple):
                members.append(f"{e(key)}:{_strings_json(value)}")
            elif isinstance(value, str):
                members.append(f"{e(key)}:{e(value)}")
            else:
                raise TypeError("federated key value is neither a string nor a tuple")
        parts.append(',"fk":{' + ",".join(members) + "}")
    parts.append("}")
    return "".join(parts)


def _claims_json_general(claims: SessionClaims) -> str:
    """The JSON claims: fixed members, then the optional ones present, in this order (one dict, one encode)."""
    body: dict[str, Any] = {
        "v": _PAYLOAD_VERSION,
        "ak": claims.access_key_id,
        "sk": claims.secret_access_key,
        "k": claims.kind,
        "a": claims.account,
        "pa": claims.principal_arn,
        "pi": claims.principal_id,
        "pn": claims.principal_name,
        "iat": _epoch(claims.issued_at),
        "exp": _epoch(claims.expires_at),
        "sid": claims.session_id,
    }
    if claims.session_name is not None:
        body["sn"] = claims.session_name
    if claims.policy is not None:
        body["p"] = claims.policy
    if claims.policy_arns:
        body["pm"] = list(claims.policy_arns)
    if claims.tags:
        body["tg"] = [list(t) for t in claims.tags]
    if claims.transitive_tag_keys:
        body["tt"] = list(claims.transitive_tag_keys)
    if claims.source_identity is not None:
        body["si"] = claims.source_identity
    if claims.mfa_authenticated_at is not None:
        body["mfa"] = _epoch(claims.mfa_authenticated_at)
    if claims.chain_depth:
        body["cd"] = claims.chain_depth
    if claims.federated_provider is not None:
        body["fp"] = claims.federated_provider
    if claims.federated_subject is not None:
        body["fs"] = claims.federated_subject
    if claims.federated_keys:
        body["fk"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in claims.federated_keys}
    return _encode_json(body)


def pack_claims(claims: SessionClaims) -> bytes:
    """The compressed payload (the sealed plaintext; ``PackedPolicySize`` is measured separately, see ``mint``)."""
    return _deflate(_claims_json(claims).encode("utf-8"))


def _str(body: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"claim {key} is not a string")
    return value


def _strings(body: dict[str, Any], key: str) -> tuple[str, ...]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"claim {key} is not a list of strings")
    return tuple(value)


def _federated_keys(body: dict[str, Any], version: int) -> tuple[tuple[str, str | tuple[str, ...]], ...]:
    raw = body.get("fk", {})
    if raw and version < 2:
        raise ValueError("claim fk in a version 1 payload")
    if not isinstance(raw, dict):
        raise ValueError("claim fk is not an object")
    out: list[tuple[str, str | tuple[str, ...]]] = []
    for key, value in raw.items():
        if isinstance(value, str):
            out.append((key, value))
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out.append((key, tuple(value)))
        else:
            raise ValueError(f"claim fk member {key!r} is not a string or a list of strings")
    return tuple(out)


def _unpack(plaintext: bytes) -> SessionClaims:
    inflater = zlib.decompressobj()
    raw = inflater.decompress(plaintext, _MAX_PLAINTEXT)
    if inflater.unconsumed_tail or not inflater.eof:
        raise ValueError("payload too large or truncated")
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("payload is not an object")
    version = body.get("v", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version not in _PAYLOAD_VERSIONS:
        raise ValueError(f"unknown payload version {version!r}")
    kind = _str(body, "k")
    if kind not in ("assumed-role", "user", "root", "federated-user"):
        raise ValueError(f"unknown session kind {kind!r}")
    tags_raw = body.get("tg", [])
    if not isinstance(tags_raw, list) or not all(
        isinstance(t, list) and len(t) == 2 and all(isinstance(x, str) for x in t) for t in tags_raw
    ):
        raise ValueError("claim tg is not a list of pairs")
    depth = body.get("cd", 0)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise ValueError("claim cd is not a count")
    mfa = body.get("mfa")
    return SessionClaims(
        access_key_id=_str(body, "ak"),
        secret_access_key=_str(body, "sk"),
        kind=kind,
        account=_str(body, "a"),
        principal_arn=_str(body, "pa"),
        principal_id=_str(body, "pi"),
        principal_name=_str(body, "pn"),
        issued_at=_time(body.get("iat")),
        expires_at=_time(body.get("exp")),
        session_id=_str(body, "sid"),
        session_name=_str(body, "sn", optional=True),
        policy=_str(body, "p", optional=True),
        policy_arns=_strings(body, "pm"),
        tags=tuple((t[0], t[1]) for t in tags_raw),
        transitive_tag_keys=_strings(body, "tt"),
        source_identity=_str(body, "si", optional=True),
        mfa_authenticated_at=_time(mfa) if mfa is not None else None,
        chain_depth=depth,
        federated_provider=_str(body, "fp", optional=True),
        federated_subject=_str(body, "fs", optional=True),
        federated_keys=_federated_keys(body, version),
    )


def _header(kid: str) -> bytes:
    raw = kid.encode("ascii")
    if not 0 < len(raw) < 256:
        raise ValueError("key id must be 1..255 ASCII characters")
    return bytes([_VERSION, len(raw)]) + raw


def _b64decode(token: str) -> bytes:
    padded = token + "=" * (-len(token) % 4)
    return base64.b64decode(padded, altchars=b"-_", validate=True)


class SessionTokenCodec:
    """Seals and opens session tokens with a keyring (held by reference: pass a getter to follow rotation).

    Opened tokens are cached by their exact text (they were authenticated before being cached, and the
    expiry is still checked on every open), so the hot path of a repeated request skips AES and zlib.
    """

    def __init__(self, keyring: Keyring | Any, *, cache_size: int = 4096) -> None:
        self._source = keyring
        self._cache: OrderedDict[str, SessionClaims] = OrderedDict()
        self._cache_size = cache_size
        self._kids: dict[str, str] = {}  # key ids of the tokens in _cache (read without decoding again)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SessionTokenCodec(cached={len(self._cache)})"

    @property
    def keyring(self) -> Keyring:
        source = self._source
        return source if isinstance(source, Keyring) else source()

    def seal(self, claims: SessionClaims, *, now: datetime, entropy: Entropy, key: KeyMaterial | None = None) -> str:
        """Seal ``claims`` with ``key`` (default: the current session-token key at ``now``)."""
        keyring = self.keyring
        key = key or keyring.current("session-token", now)
        header = _header(key.key_id)
        nonce = entropy.token_bytes(_NONCE)
        body = keyring.session_aead(key).encrypt(nonce, pack_claims(claims), header)
        return base64.urlsafe_b64encode(header + nonce + body).rstrip(b"=").decode("ascii")

    def open(self, token: str, clock: Clock) -> SessionClaims:
        return self.open_at(token, clock.now())

    def open_at(self, token: str, now: datetime) -> SessionClaims:
        """The claims of ``token`` if it is genuine and unexpired at ``now``."""
        with self._lock:
            claims = self._cache.get(token)
            if claims is not None:
                self._cache.move_to_end(token)
        if claims is None:
            claims = self._open(token)
            kid = self.key_id_of(token)
            with self._lock:
                self._cache[token] = claims
                if kid is not None:
                    self._kids[token] = kid
                if len(self._cache) > self._cache_size:
                    evicted, _ = self._cache.popitem(last=False)
                    self._kids.pop(evicted, None)
        if now >= claims.expires_at:
            detail = f"session {claims.session_id} expired at {claims.expires_at.isoformat()}"
            raise ExpiredToken(EXPIRED_TOKEN, detail=detail)
        return claims

    def key_id_of(self, token: str) -> str | None:
        """The key id named in a token's header, without opening it (``None`` if unreadable)."""
        known = self._kids.get(token)
        if known is not None:
            return known
        try:
            raw = _b64decode(token[:400])
        except (binascii.Error, ValueError):
            return None
        if len(raw) < 2 or raw[0] != _VERSION or len(raw) < 2 + raw[1]:
            return None
        return raw[2 : 2 + raw[1]].decode("ascii", "replace")

    def _open(self, token: str) -> SessionClaims:
        def invalid(reason: str) -> InvalidClientTokenId:
            return InvalidClientTokenId(INVALID_TOKEN, detail=f"session token refused: {reason}")

        if not token or len(token) > MAX_TOKEN_CHARS:
            raise invalid("empty or oversized")
        try:
            raw = _b64decode(token)
        except (binascii.Error, ValueError) as exc:
            raise invalid("not base64url") from exc
        if len(raw) < 2 or raw[0] != _VERSION:
            raise invalid("unknown version")
        end = 2 + raw[1]
        if raw[1] == 0 or len(raw) < end + _NONCE + 16:
            raise invalid("truncated")
        header, kid = raw[:end], raw[2:end].decode("ascii", "replace")
        keyring = self.keyring
        key = keyring.by_kid(kid)
        if key is None or key.purpose != "session-token":
            raise invalid(f"unknown key id {kid!r}")
        try:
            plaintext = keyring.session_aead(key).decrypt(raw[end : end + _NONCE], raw[end + _NONCE :], header)
        except InvalidTag as exc:
            raise invalid(f"authentication failed under key {kid}") from exc
        try:
            return _unpack(plaintext)
        except (ValueError, zlib.error, UnicodeDecodeError) as exc:  # genuine key, bad payload: a bug, refuse
            raise invalid(f"payload unreadable: {exc}") from exc
