"""``broker serve``'s log level: ``--log-level`` wins, else ``BROKER_LOG_LEVEL`` (it used to be ignored)."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.cli.main import build_parser, serve_log_level
from broker.config import Settings


@pytest.mark.parametrize(("argv", "env", "expected"), [
    ([], None, "info"),
    ([], "WARNING", "warning"),
    (["--log-level", "debug"], "WARNING", "debug"),
])
def test_serve_log_level(argv: list[str], env: str | None, expected: str, tmp_path: Path,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKER_LOG_LEVEL", raising=False)
    if env is not None:
        monkeypatch.setenv("BROKER_LOG_LEVEL", env)
    args = build_parser().parse_args(["serve", *argv])
    assert serve_log_level(args, Settings(home=tmp_path)) == expected
