"""The local annotation page: a Starlette app over an :class:`~autocode.app.session.AnnotationSession`.

It is a door into sensitive transcripts, so it only answers requests that
* name its own Host (127.0.0.1 / localhost / [::1] on its port) -- against DNS rebinding, and
* carry the per-session token: the ``X-Autocode-Token`` header on every API call; for the
  page and its static files ``?token=`` or the ``SameSite=Strict`` cookie the first visit sets
  (so a reload works, and no other site's request ever carries it) -- so another site open
  in the browser can neither read transcripts nor write codings.
"""

from __future__ import annotations

import hmac
import secrets
import socket
import threading
import webbrowser
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..errors import AutocodeError

STATIC = Path(__file__).with_name("static")
COOKIE = "autocode_session"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def new_token() -> str:
    return secrets.token_urlsafe(32)


def create_app(session: Any, token: str, port: int) -> Starlette:
    """The ASGI app for one annotation session. ``port`` is the port the Host header must name."""
    allowed_hosts = {f"{h}:{port}" for h in LOCAL_HOSTS}
    lock = threading.Lock()  # one answer at a time: the store and the learner are not re-entrant

    def guard(request: Request, page: bool = False) -> Response | None:
        host = request.headers.get("host", "")
        if host not in allowed_hosts:
            return JSONResponse({"error": f"unexpected Host {host!r}"}, status_code=403, headers=SECURITY_HEADERS)
        given = request.headers.get("x-autocode-token") or ""
        if page:
            given = given or request.query_params.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return JSONResponse({"error": "missing or wrong session token; open the link that "
                                          "`autocode annotate` printed"}, status_code=403, headers=SECURITY_HEADERS)
        if request.method == "POST" and request.headers.get("content-type", "").split(";")[0] != "application/json":
            return JSONResponse({"error": "JSON only"}, status_code=415, headers=SECURITY_HEADERS)
        return None

    def json(data: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(data, status_code=status, headers=SECURITY_HEADERS)

    async def index(request: Request) -> Response:
        if (refused := guard(request, page=True)) is not None:
            return refused
        html = (STATIC / "index.html").read_text(encoding="utf-8").replace("{{TOKEN}}", token)
        response = HTMLResponse(html, headers=SECURITY_HEADERS)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
        return response

    async def static(request: Request) -> Response:
        if (refused := guard(request, page=True)) is not None:
            return refused
        name = request.path_params["name"]
        path = STATIC / name
        if path.suffix not in STATIC_TYPES or path.parent != STATIC or not path.exists():
            return json({"error": "not found"}, 404)
        return Response(path.read_bytes(), media_type=STATIC_TYPES[path.suffix], headers=SECURITY_HEADERS)

    async def state(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        with lock:
            return json(session.state())

    async def answer(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        try:
            payload = await request.json()
            if not isinstance(payload, dict):
                raise ValueError("expected a JSON object")
            with lock:
                return json(session.answer(payload))
        except (AutocodeError, ValueError, KeyError, TypeError) as exc:
            return json({"error": str(exc)}, 400)

    async def undo(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        with lock:
            return json(session.undo())

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/state", state),
        Route("/api/answer", answer, methods=["POST"]),
        Route("/api/undo", undo, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def serve(session: Any, *, port: int = 0, open_browser: bool = True, on_ready=None) -> None:
    """Serve on 127.0.0.1 only until interrupted. ``port=0`` picks a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    token = new_token()
    app = create_app(session, token, port)
    url = f"http://127.0.0.1:{port}/?token={token}"
    if on_ready:
        on_ready(url)
    if open_browser:
        threading.Timer(0.8, lambda: webbrowser.open(url)).start()
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
