"""A request body larger than the limit is a 413 before anything parses it, with or without Content-Length.

A declared ``Content-Length`` over the limit is refused unread. A body without one (chunked) is read up to
the limit and refused at the first chunk beyond it; a body within the limit is handed to the app whole, so
nothing here or downstream ever holds more than ``max_bytes`` of it.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.models import Problem


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, None when absent (the server refuses a malformed one before the app)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before its body was complete: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect a streaming response listens for

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = Problem(
            detail=f"the request body is larger than {self.max_bytes} bytes",
            reason="BODY_TOO_LARGE",
            extra={"limit_bytes": self.max_bytes},
        )
        # No "Connection: close": closing on a client still sending makes its kernel reset the connection, and
        # the client may lose the answer. uvicorn reads on and discards the rest of the body, holding none of it.
        await JSONResponse(problem.model_dump(exclude_none=True), status_code=413)(scope, receive, send)
