"""Request body size limit (pure ASGI): 413 problem document when Content-Length or the streamed body exceeds it.

One limit for every path, except the paths in ``path_limits`` (``POST /v1/solve`` has its own, larger limit:
solver problems are arrays of numbers and grow with cells x users).
"""

from __future__ import annotations

import json
from typing import Any

from dientine.api.problems import PROBLEM_MEDIA_TYPE, ApiError

Scope = dict[str, Any]


class BodySizeLimit:
    def __init__(self, app: Any, max_body_bytes: int, path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.path_limits = dict(path_limits or {})

    @staticmethod
    def _detail(limit: int) -> str:
        return f"request body larger than the limit of {limit} bytes"

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope.get("path", ""), self.max_body_bytes)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                if length > limit or length < 0:
                    status = 413 if length > 0 else 400
                    detail = self._detail(limit) if status == 413 else "Content-Length is not a non-negative integer"
                    await self._reject(scope, send, status, detail)
                    return
                break
        seen = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise ApiError(413, self._detail(limit), kind="payload-too-large")
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, scope: Scope, send: Any, status: int, detail: str) -> None:
        body = json.dumps({
            "type": "urn:dientine:problem:payload-too-large" if status == 413 else "about:blank",
            "title": "Content Too Large" if status == 413 else "Bad Request",
            "status": status, "detail": detail, "instance": scope.get("path", ""), "errors": [],
        }).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
