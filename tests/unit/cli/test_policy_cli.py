"""``broker policy lint|validate`` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker.cli.main import main


def _write(tmp_path: Path, doc: object) -> str:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_lint_flags_not_action_allow_and_exits_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(
        tmp_path, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
    )
    code = main(["policy", "lint", path])
    out = capsys.readouterr().out
    assert code >= 1
    assert f"{path}:/Statement/0" in out and "NotAction" in out


def test_lint_guesses_trust_and_flags_unpinned_github(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(
        tmp_path,
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {
                        "Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
                    },
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}},
                }
            ],
        },
    )
    code = main(["policy", "lint", path, "--json"])
    findings = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 2
    assert any(f["code"] == "OIDC_UNPINNED_SHARED_ISSUER" for f in findings)


def test_clean_policy_has_no_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(
        tmp_path,
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}],
        },
    )
    assert main(["policy", "lint", path]) == 0
    assert "no findings" in capsys.readouterr().out


def test_validate_reports_every_problem_with_pointer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, {"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "s3:GetObject"}]})
    assert main(["policy", "validate", path, "--kind", "identity"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) >= 2 and all(line["pointer"].startswith("/Statement/0") for line in lines)
