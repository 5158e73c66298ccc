"""Reading a request body with a hard size limit, before any parsing."""

from __future__ import annotations

from starlette.requests import Request

from broker.errors import RequestEntityTooLarge

__all__ = ["read_limited"]


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, or ``RequestEntityTooLarge`` as soon as it (or its declared length) passes ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestEntityTooLarge(f"Request body must be at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge(f"Request body must be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
