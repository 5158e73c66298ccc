"""Amazon Resource Names.

Format: ``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`` (IAM User Guide, "IAM ARNs",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns).
IAM and STS ARNs have an empty region. The resource part may itself contain ``:`` (it is everything
after the fifth colon).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Arn", "ArnFactory", "parse_arn"]


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"

    @property
    def resource_type(self) -> str:
        """``role`` for ``role/path/name``; empty when the resource has no type prefix."""
        head, sep, _ = self.resource.partition("/")
        return head if sep else ""

    @property
    def name(self) -> str:
        """The last path segment of the resource (``NAME`` in ``role/PATH/NAME``)."""
        return self.resource.rsplit("/", 1)[-1]


def parse_arn(text: str) -> Arn:
    """Parse an ARN; raises :class:`ValueError` when ``text`` is not one."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2] or not parts[5]:
        raise ValueError(f"not an ARN: {text!r}")
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


def _path(path: str) -> str:
    if not path.startswith("/") or not path.endswith("/"):
        raise ValueError(f"IAM path must begin and end with '/': {path!r}")
    return path


@dataclass(frozen=True, slots=True)
class ArnFactory:
    """ARNs for one account and partition (``BROKER_ACCOUNT_ID``, ``BROKER_PARTITION``)."""

    account: str = "000000000000"
    partition: str = "aws"

    def iam(self, resource: str) -> str:
        return str(Arn(self.partition, "iam", "", self.account, resource))

    def root(self) -> str:
        return self.iam("root")

    def user(self, name: str, path: str = "/") -> str:
        return self.iam(f"user{_path(path)}{name}")

    def group(self, name: str, path: str = "/") -> str:
        return self.iam(f"group{_path(path)}{name}")

    def role(self, name: str, path: str = "/") -> str:
        return self.iam(f"role{_path(path)}{name}")

    def policy(self, name: str, path: str = "/") -> str:
        return self.iam(f"policy{_path(path)}{name}")

    def mfa(self, name: str, path: str = "/") -> str:
        return self.iam(f"mfa{_path(path)}{name}")

    def oidc_provider(self, host_path: str) -> str:
        """``oidc-provider/HOST[:PORT]/PATH`` (SPEC.md §2: the port is kept, unlike AWS)."""
        return self.iam(f"oidc-provider/{host_path}")

    def saml_provider(self, name: str) -> str:
        return self.iam(f"saml-provider/{name}")

    def assumed_role(self, role_name: str, session_name: str) -> str:
        """STS assumed-role ARN; the role's path is dropped, as AWS does."""
        return str(Arn(self.partition, "sts", "", self.account, f"assumed-role/{role_name}/{session_name}"))

    def federated_user(self, name: str) -> str:
        return str(Arn(self.partition, "sts", "", self.account, f"federated-user/{name}"))
