"""Read a request's SigV4 claims: the ``Authorization`` header form or the presigned query form.

Sources:

* IAM User Guide, "Elements of an AWS API request signature"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/signing-elements.html): the header is
  ``AWS4-HMAC-SHA256 Credential=<AKID>/<YYYYMMDD>/<region>/<service>/aws4_request,
  SignedHeaders=<a;b;c>, Signature=<hex>``; the time comes from ``X-Amz-Date`` or, failing that,
  ``Date`` ("Handling dates in Signature Version 4",
  https://docs.aws.amazon.com/general/latest/gr/sigv4-date-handling.html), in ISO-8601 basic format.
* "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)"
  (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html): ``X-Amz-Algorithm``,
  ``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-Expires`` (1..604800), ``X-Amz-SignedHeaders``,
  ``X-Amz-Signature``, optionally ``X-Amz-Security-Token``.
* STS "Common Errors" (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html):
  malformed → ``IncompleteSignature`` (400); no authentication at all → ``MissingAuthenticationToken``
  (403).

Messages follow AWS's observed wording (IncompleteSignature texts such as "Authorization header
requires 'Credential' parameter." are what STS/IAM return, one sentence per problem, all problems
collected). The ``detail`` never echoes the Authorization header (it goes to the audit log).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from broker.credentials.sigv4.auth import ALGORITHM, SigV4Auth
from broker.credentials.sigv4.request import SignedRequest
from broker.errors import IncompleteSignature, MissingAuthenticationToken

__all__ = [
    "AMZ_DATE_FORMAT",
    "MAX_EXPIRES",
    "QUERY_AUTH_PARAMS",
    "format_amz_date",
    "parse",
    "parse_amz_date",
]

AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_EXPIRES = 604_800
QUERY_AUTH_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date")
_AMZ_DATE_RE = re.compile(r"\A\d{8}T\d{6}Z\Z")
_BOTH_FORMS = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
    "parameter or the Authorization header should be specified"
)
MISSING_AUTH = "Request is missing Authentication Token"
_QUERY_AUTH_NAMES = (*QUERY_AUTH_PARAMS, "X-Amz-Expires")
_USUAL_HEADER = re.compile(
    r"\AAWS4-HMAC-SHA256 Credential=([^,=\s]+), ?SignedHeaders=([^,=\s]+), ?Signature=([^,=\s]+)\Z"
)


def parse_amz_date(value: str) -> datetime:
    """``YYYYMMDD'T'HHMMSS'Z'`` → aware UTC datetime; ValueError otherwise."""
    found = _AMZ_DATES.get(value)
    if found is not None:
        return found
    parsed = _parse_amz_date(value)
    if len(_AMZ_DATES) >= 1024:  # requests arrive with recent stamps: a small memo of the last ones
        _AMZ_DATES.clear()
    _AMZ_DATES[value] = parsed
    return parsed


_AMZ_DATES: dict[str, datetime] = {}


def _parse_amz_date(value: str) -> datetime:
    if not _AMZ_DATE_RE.match(value):
        raise ValueError(value)
    return datetime(
        int(value[0:4]),
        int(value[4:6]),
        int(value[6:8]),
        int(value[9:11]),
        int(value[11:13]),
        int(value[13:15]),
        tzinfo=UTC,
    )


def format_amz_date(value: datetime) -> str:
    return value.astimezone(UTC).strftime(AMZ_DATE_FORMAT)


def _iso_error(value: str) -> str:
    return f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"


def _single(values: Sequence[str]) -> str | None:
    return values[0] if len(values) == 1 else None


def parse(request: SignedRequest) -> SigV4Auth:
    """The SigV4 claims of ``request``; raises IncompleteSignature or MissingAuthenticationToken."""
    authorization = request.header_tuple("authorization")
    query_auth = False
    if request.query:  # an empty query string holds no auth parameters (the common header-form case)
        query_names = {name for name, _ in request.query_pairs()}
        query_auth = any(name in query_names for name in _QUERY_AUTH_NAMES)
    if authorization and query_auth:
        raise IncompleteSignature(_BOTH_FORMS, detail="both an Authorization header and X-Amz-* query auth")
    if authorization:
        if len(authorization) > 1:
            raise IncompleteSignature("Only one Authorization header may be specified", detail="Authorization repeated")
        return _parse_header(request, authorization[0])
    if query_auth:
        return _parse_query(request)
    raise MissingAuthenticationToken(MISSING_AUTH, detail="no Authorization header and no X-Amz-* query auth")


def _parse_credential(credential: str) -> tuple[str, str, str, str, str] | str:
    parts = credential.split("/")
    if len(parts) != 5:
        return (
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{credential}'"
        )
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def _request_time(request: SignedRequest, problems: list[str]) -> tuple[str, datetime, str] | None:
    """(amz_date, timestamp, header name) from X-Amz-Date, else Date; None when absent or bad."""
    amz = request.header_tuple("x-amz-date")
    if amz:
        value = _single(amz)
        if value is None:
            problems.append("Only one 'X-Amz-Date' header may be specified.")
            return None
        try:
            return value, parse_amz_date(value.strip()), "x-amz-date"
        except ValueError:
            problems.append(_iso_error(value))
            return None
    dates = request.header_tuple("date")
    if not dates:
        return None
    value = _single(dates)
    if value is None:
        problems.append("Only one 'Date' header may be specified.")
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        problems.append(_iso_error(value))
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return format_amz_date(parsed), parsed.astimezone(UTC), "date"


def _parse_header(request: SignedRequest, header: str) -> SigV4Auth:
    algorithm, _, rest = header.strip().partition(" ")
    fields: dict[str, str] = {}
    usual = _USUAL_HEADER.match(header.strip())
    if usual is not None:  # the shape every SDK sends: same fields as the general loop below, found at once
        fields = {"Credential": usual[1], "SignedHeaders": usual[2], "Signature": usual[3]}
    elif algorithm == ALGORITHM:
        for component in rest.split(","):
            component = component.strip()
            if not component:
                continue
            name, eq, value = component.partition("=")
            if not eq:
                raise IncompleteSignature(
                    f"'{component}' not a valid key=value pair (missing equal-sign) in Authorization header: "
                    f"'{header}'.",
                    detail=f"Authorization component without '=' (algorithm {algorithm})",
                )
            fields[name.strip()] = value.strip()
    missing = [
        f"Authorization header requires '{required}' parameter."
        for required in ("Credential", "Signature", "SignedHeaders")
        if not fields.get(required)
    ]
    date_problems: list[str] = []
    when = _request_time(request, date_problems)
    if when is None and not date_problems:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if missing:
        # AWS echoes the header back to its sender; the audit detail does not.
        raise IncompleteSignature(" ".join(missing) + f" Authorization={header}", detail=" ".join(missing))
    if date_problems:
        raise IncompleteSignature(" ".join(date_problems))
    assert when is not None
    credential = _parse_credential(fields["Credential"])
    if isinstance(credential, str):
        raise IncompleteSignature(credential)
    signed_headers = tuple(fields["SignedHeaders"].split(";"))
    amz_date, timestamp, date_header = when
    _require_signed(signed_headers, date_header)
    return SigV4Auth(
        access_key_id=credential[0],
        date=credential[1],
        region=credential[2],
        service=credential[3],
        terminator=credential[4],
        signed_headers=signed_headers,
        signature=fields["Signature"],
        amz_date=amz_date,
        timestamp=timestamp,
        presigned=False,
        expires=None,
        security_token=_single(request.header_tuple("x-amz-security-token")),
    )


def _require_signed(signed_headers: tuple[str, ...], date_header: str | None) -> None:
    problems: list[str] = []
    if "host" not in signed_headers:
        problems.append("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    if date_header == "x-amz-date" and "x-amz-date" not in signed_headers:
        problems.append("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
    if date_header == "date" and "date" not in signed_headers:
        problems.append("'Date' must be a 'SignedHeader' in the AWS Authorization.")
    if problems:
        raise IncompleteSignature(" ".join(problems))


def _parse_query(request: SignedRequest) -> SigV4Auth:
    params: dict[str, list[str]] = {}
    for name, item in request.query_pairs():
        params.setdefault(name, []).append(item)
    problems: list[str] = []
    for required in (*QUERY_AUTH_PARAMS, "X-Amz-Expires"):
        values = params.get(required)
        if not values or not values[0]:
            problems.append(f"AWS query-string parameters must include '{required}'.")
        elif len(values) > 1:
            problems.append(f"AWS query-string parameter '{required}' must appear only once.")
    if problems:
        raise IncompleteSignature(" ".join(problems) + " Re-examine the query-string parameters.")
    first = {name: values[0] for name, values in params.items()}
    if first["X-Amz-Algorithm"] != ALGORITHM:
        problems.append(f"X-Amz-Algorithm only supports '{ALGORITHM}'.")
    timestamp: datetime | None = None
    try:
        timestamp = parse_amz_date(first["X-Amz-Date"])
    except ValueError:
        problems.append(_iso_error(first["X-Amz-Date"]))
    expires: int | None = None
    raw_expires = first["X-Amz-Expires"]
    if not raw_expires.lstrip("-").isdigit():
        problems.append("X-Amz-Expires should be a number.")
    else:
        expires = int(raw_expires)
        if expires < 0:
            problems.append("X-Amz-Expires must be non-negative.")
        elif expires == 0:
            problems.append("X-Amz-Expires must be at least 1 second.")
        elif expires > MAX_EXPIRES:
            problems.append(f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}.")
    credential = _parse_credential(first["X-Amz-Credential"])
    if isinstance(credential, str):
        problems.append(credential)
    token_values = params.get("X-Amz-Security-Token", [])
    if len(token_values) > 1:
        problems.append("AWS query-string parameter 'X-Amz-Security-Token' must appear only once.")
    if problems:
        raise IncompleteSignature(" ".join(problems))
    assert timestamp is not None and expires is not None and not isinstance(credential, str)
    signed_headers = tuple(first["X-Amz-SignedHeaders"].split(";"))
    _require_signed(signed_headers, None)
    return SigV4Auth(
        access_key_id=credential[0],
        date=credential[1],
        region=credential[2],
        service=credential[3],
        terminator=credential[4],
        signed_headers=signed_headers,
        signature=first["X-Amz-Signature"],
        amz_date=first["X-Amz-Date"],
        timestamp=timestamp,
        presigned=True,
        expires=expires,
        security_token=token_values[0] if token_values else None,
    )
