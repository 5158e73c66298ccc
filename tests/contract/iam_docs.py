"""Policy documents shared by the IAM contract tests."""

from __future__ import annotations

import json

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)
ALLOW_ALL = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
S3_READ = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'


def padded(size: int) -> str:
    """A valid identity policy whose counted size is exactly ``size`` characters (no whitespace)."""
    base = '{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
    sid = "A" * (size - len(base))
    return base.replace('"Sid":""', f'"Sid":"{sid}"')
