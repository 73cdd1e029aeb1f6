"""What both web doors share: security headers, the package's static files, reading a JSON body
against its schema (400 naming the field, 413 when oversized), and the listening socket."""

from __future__ import annotations

import json as jsonlib
import socket
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .requests import MAX_BODY_BYTES, TooLarge, ValidationError, first_error

STATIC = Path(__file__).with_name("static")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
#: The headers of every reply. ``form-action 'none'``: the annotation page has no form.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


class BadRequest(Exception):
    """A body that does not fit its schema (HTTP 400), naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON reply with the security headers."""
    return JSONResponse(data, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def static_file(name: str, headers: dict[str, str] = SECURITY_HEADERS) -> Response | None:
    """One of the package's .js/.css files, or None when there is no such file."""
    path = STATIC / name
    if path.suffix not in STATIC_TYPES or path.parent != STATIC or not path.exists():
        return None
    return Response(path.read_bytes(), media_type=STATIC_TYPES[path.suffix], headers=headers)


async def read_raw(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, read up to ``limit`` bytes; more raises :class:`TooLarge`."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise TooLarge(f"the request is {declared} bytes; the most accepted is {limit:,}")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise TooLarge(f"the request is over {limit:,} bytes, the most accepted")
    return bytes(raw)


async def read_body(request: Request, schema: type) -> Any:
    """The request body, read up to the limit and validated against ``schema`` (a pydantic model)."""
    raw = await read_raw(request)
    try:
        data = jsonlib.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise BadRequest("body", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body", "expected a JSON object")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(*first_error(exc)) from None


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (IPv6 when the host has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Measured: without TCP_NODELAY a reply's body waited ~40 ms for the ACK of its headers
    # (Nagle's algorithm against the browser's delayed ACK) on every request. Accepted
    # connections inherit the option from the listening socket on Linux.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host.strip("[]"), port))
    # listening from here on: whoever is told the address (on_ready) may connect at once; the
    # connections wait in the backlog until the server's loop runs
    sock.listen(2048)
    return sock


def interrupt(signum, frame) -> None:
    """A SIGTERM handler: end the server as Ctrl+C does (the caller's ``finally`` cleans up)."""
    raise KeyboardInterrupt
