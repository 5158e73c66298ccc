"""Statement positions for the simulator's MatchedStatements (IAM API Reference, "Statement" and "Position":
https://docs.aws.amazon.com/IAM/latest/APIReference/API_Statement.html), and the lint report format."""

from __future__ import annotations

import json

from broker.policy import Finding, Position, format_findings, lint, statement_span
from broker.policy.positions import value_spans

PRETTY = """{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"},
    {
      "Sid": "Br\\u0061ces {[ in a string ]}",
      "Effect": "Deny",
      "Action": "iam:*",
      "Resource": "*"
    }
  ]
}"""


def test_positions_of_statements_in_a_list() -> None:
    assert statement_span(PRETTY, "/Statement/0") == (Position(4, 5), Position(4, 60))
    assert statement_span(PRETTY, "/Statement/1") == (Position(5, 5), Position(10, 5))
    assert statement_span(PRETTY, "/Statement") == (Position(3, 16), Position(11, 3))


def test_position_of_a_single_statement_object() -> None:
    compact = json.dumps({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}, separators=(",", ":"))
    assert statement_span(compact, "/Statement") == (Position(1, 14), Position(1, 62))


def test_spans_cover_nested_values_and_missing_pointers() -> None:
    spans = value_spans(PRETTY)
    assert PRETTY[spans["/Statement/0/Action"][0]] == "["
    assert statement_span(PRETTY, "/Statement/7") is None
    assert value_spans("{nope") == {}


def test_format_findings_for_the_cli() -> None:
    findings = lint(json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}), "identity")
    assert format_findings(findings, source="p.json") == "\n".join(
        [
            "p.json:/Statement/0: security FULL_ACCESS: The statement allows every action on every resource.",
            'p.json:/: warning MISSING_VERSION: Use "Version": "2012-10-17": under 2008-10-17 policy variables '
            "are not substituted.",
        ]
    )
    assert format_findings([], source="p.json") == "p.json: no findings"
    assert isinstance(findings[0], Finding)
