"""What a SigV4 signature claims: the parsed Authorization header or presigned query parameters.

AWS General Reference, "Elements of an AWS API request signature"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/signing-elements.html).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["ALGORITHM", "TERMINATOR", "SigV4Auth"]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"


@dataclass(frozen=True, slots=True)
class SigV4Auth:
    """The claims of one signed request (header form or presigned query form).

    ``date`` is the credential-scope date (``YYYYMMDD`` as sent); ``amz_date`` is the request
    time in ISO-8601 basic format (``20150830T123600Z``) as it enters the string to sign, and
    ``timestamp`` the same instant as an aware UTC datetime. ``expires`` is ``X-Amz-Expires``
    (presigned only). The signature and session token are hidden from ``repr``.
    """

    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str = field(repr=False)
    amz_date: str
    timestamp: datetime
    presigned: bool
    expires: int | None = None
    security_token: str | None = field(default=None, repr=False)

    @property
    def scope(self) -> str:
        """``date/region/service/terminator`` as claimed."""
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"
