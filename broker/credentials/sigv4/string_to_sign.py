"""Task 2 of SigV4: the string to sign.

IAM User Guide, "Create a signed AWS API request", section "Step 2: Create a hash of the canonical
request" and "Step 3: Create a string to sign"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-string-to-sign)::

    AWS4-HMAC-SHA256\\n<RequestDateTime>\\n<CredentialScope>\\n<hex(SHA256(CanonicalRequest))>
"""

from __future__ import annotations

import hashlib

from broker.credentials.sigv4.auth import ALGORITHM, TERMINATOR

__all__ = ["credential_scope", "string_to_sign"]


def credential_scope(date: str, region: str, service: str, terminator: str = TERMINATOR) -> str:
    return f"{date}/{region}/{service}/{terminator}"


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"
