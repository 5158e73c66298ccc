"""Why a SAML response was refused.

:class:`SamlError` carries every problem found (``problems``) and a ``kind`` the service maps to the
AWS error code (AWS STS API Reference, API_AssumeRoleWithSAML, "Errors",
https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithSAML.html):

- ``invalid`` → ``InvalidIdentityToken`` ("The web identity token that was passed could not be
  validated by AWS"; for SAML: bad signature, wrong issuer/audience/recipient, malformed attributes);
- ``expired`` → ``ExpiredTokenException`` ("The web identity token that was passed is expired or is not
  valid");
- ``denied`` → ``AccessDenied`` (the Role attribute does not name the requested role and provider).
"""

from __future__ import annotations

from typing import Literal

__all__ = ["SamlError", "SamlErrorKind"]

SamlErrorKind = Literal["invalid", "expired", "denied"]


class SamlError(ValueError):
    """A refused SAML response; ``problems`` lists every reason (never secrets, never the assertion)."""

    def __init__(self, problems: list[str], kind: SamlErrorKind = "invalid") -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.kind: SamlErrorKind = kind
