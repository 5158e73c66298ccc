"""The time window a signed request must fall in. Pure: ``now`` is a parameter.

* Header form: the request time must lie within ``skew_seconds`` of the server's clock. STS and IAM
  answer ``SignatureDoesNotMatch`` with "Signature expired: <t> is now earlier than <now-15min>
  (<now> - 15 min.)" or "Signature not yet current: <t> is still later than <now+15min> (<now> + 15
  min.)" (observed AWS responses, reference §7; AWS General Reference "Signature Version 4 signing
  process": "the request must reach AWS within five minutes of the time stamp", STS/IAM observed at 15).
  The boundary second itself is accepted; one second past it is refused.
* Presigned form: the same window (STS ignores a longer ``X-Amz-Expires`` and still applies its
  clock window, aws/aws-sdk-go#2167), and additionally the request is refused once
  ``X-Amz-Date + X-Amz-Expires`` has passed ("Authenticating Requests: Using Query Parameters",
  https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html, ``X-Amz-Expires``),
  with ``RequestExpired`` (STS Common Errors: "The request reached the service more than 15 minutes
  after the date stamp on the request or more than 15 minutes after the request expiration date").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from broker.clock import utc
from broker.credentials.sigv4.auth import SigV4Auth
from broker.credentials.sigv4.parse import format_amz_date
from broker.errors import RequestExpired, SignatureDoesNotMatch

__all__ = ["check_window"]


def _span(skew_seconds: int) -> str:
    if skew_seconds % 60 == 0:
        return f"{skew_seconds // 60} min."
    return f"{skew_seconds} sec."


def check_window(auth: SigV4Auth, *, now: datetime, skew_seconds: int) -> None:
    """Raise unless ``auth``'s time is acceptable at ``now``."""
    if not auth.presigned and now.tzinfo is UTC and auth.timestamp.tzinfo is UTC:
        # Fast path (the usual header-signed request, both instants already UTC): inside the window?
        if abs((auth.timestamp - now).total_seconds()) <= skew_seconds:
            return
    now = utc(now)
    when = utc(auth.timestamp)
    skew = timedelta(seconds=skew_seconds)
    stamp = auth.amz_date
    if when < now - skew:
        raise SignatureDoesNotMatch(
            f"Signature expired: {stamp} is now earlier than {format_amz_date(now - skew)} "
            f"({format_amz_date(now)} - {_span(skew_seconds)})"
        )
    if when > now + skew:
        raise SignatureDoesNotMatch(
            f"Signature not yet current: {stamp} is still later than {format_amz_date(now + skew)} "
            f"({format_amz_date(now)} + {_span(skew_seconds)})"
        )
    if auth.presigned:
        assert auth.expires is not None
        deadline = when + timedelta(seconds=auth.expires)
        if now > deadline:
            raise RequestExpired(
                "Request has expired",
                detail=f"presigned request expired at {format_amz_date(deadline)}, now {format_amz_date(now)}",
            )
