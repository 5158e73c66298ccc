"""Runnable examples of services that use broker (see examples/README.md)."""
