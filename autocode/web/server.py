"""The local annotation page: a Starlette app over an :class:`~autocode.app.session.AnnotationSession`.

It is a door into sensitive transcripts, so it only answers requests that
* name its own Host (127.0.0.1 / localhost / [::1] on its port) -- against DNS rebinding, and
* carry the per-session token: the ``X-Autocode-Token`` header on every API call; for the
  page and its static files ``?token=`` or the ``SameSite=Strict`` cookie the first visit sets
  (so a reload works, and no other site's request ever carries it) -- so another site open
  in the browser can neither read transcripts nor write codings.

Every request body is validated (:mod:`.requests`): a wrong one is a 400 naming the field, an
oversized one a 413. The token and the port are kept per workspace and coder in an owner-only
file (:func:`remembered_door`), so a tab left open reconnects when the session is restarted.
"""

from __future__ import annotations

import hashlib
import hmac
import json as jsonlib
import os
import secrets
import signal
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..errors import AutocodeError
from .common import (
    LOCAL_HOSTS,
    SECURITY_HEADERS,
    STATIC,
    BadRequest,
    bind,
    interrupt,
    json_reply,
    read_body,
    static_file,
)
from .requests import Answer, TooLarge, Undo

COOKIE = "autocode_session"
__all__ = ["COOKIE", "LOCAL_HOSTS", "SECURITY_HEADERS", "STATIC", "create_app", "new_token", "remembered_door", "serve"]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def create_app(session: Any, token: str, port: int) -> Starlette:
    """The ASGI app for one annotation session. ``port`` is the port the Host header must name."""
    allowed_hosts = {f"{h}:{port}" for h in LOCAL_HOSTS}
    lock = threading.Lock()  # one answer at a time: the store and the learner are not re-entrant

    def guard(request: Request, page: bool = False) -> Response | None:
        host = request.headers.get("host", "")
        if host not in allowed_hosts:
            return json_reply({"error": f"unexpected Host {host!r}"}, 403)
        given = request.headers.get("x-autocode-token") or ""
        if page:
            given = given or request.query_params.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return json_reply({"error": "missing or wrong session token; open the link that "
                                        "`autocode annotate` printed"}, 403)
        if request.method == "POST" and request.headers.get("content-type", "").split(";")[0] != "application/json":
            return json_reply({"error": "JSON only"}, 415)
        return None

    json = json_reply

    async def index(request: Request) -> Response:
        if (refused := guard(request, page=True)) is not None:
            return refused
        html = (STATIC / "index.html").read_text(encoding="utf-8").replace("{{TOKEN}}", token)
        html = html.replace("{{CSRF}}", "").replace("{{ROLE}}", "")  # the team server's fields: none here
        response = HTMLResponse(html, headers=SECURITY_HEADERS)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
        return response

    async def static(request: Request) -> Response:
        if (refused := guard(request, page=True)) is not None:
            return refused
        found = static_file(request.path_params["name"])
        return found if found is not None else json({"error": "not found"}, 404)

    def call(fn: Callable[[], Any]) -> Response:
        """Run a session call under the lock; its refusals are 400s."""
        try:
            with lock:
                return json(fn())
        except AutocodeError as exc:
            return json({"error": str(exc)}, 400)

    async def state(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        return call(session.state)

    async def answer(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        try:
            given = (await read_body(request, Answer)).check_sizes()
        except TooLarge as exc:
            return json({"error": str(exc)}, 413)
        except BadRequest as exc:
            return json({"error": exc.message, "field": exc.field}, 400)
        return call(lambda: session.answer(given.model_dump()))

    async def undo(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        try:
            await read_body(request, Undo)
        except TooLarge as exc:
            return json({"error": str(exc)}, 413)
        except BadRequest as exc:
            return json({"error": exc.message, "field": exc.field}, 400)
        return call(session.undo)

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/state", state),
        Route("/api/answer", answer, methods=["POST"]),
        Route("/api/undo", undo, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def remembered_door(folder: Path, coder: str, port: int = 0) -> tuple[str, int, Path]:
    """The token and port kept for ``coder`` in ``folder`` (the workspace's), made on first use.
    The file is the coder's key to the page, so it is owner-only (0600, in a 0700 folder).
    ``port`` other than 0 replaces the remembered one. Returns (token, port, file)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    path = folder / f"annotate-{hashlib.sha256(coder.encode('utf-8')).hexdigest()[:16]}.json"
    try:
        kept = jsonlib.loads(path.read_text(encoding="utf-8"))
        token, kept_port = str(kept["token"]), int(kept.get("port") or 0)
        if len(token) < 32:
            raise ValueError("short token")
    except (OSError, ValueError, KeyError, TypeError):
        token, kept_port = new_token(), 0
    door = (token, port or kept_port)
    _write_private(path, {"coder": coder, "token": door[0], "port": door[1]})
    return door[0], door[1], path


def _write_private(path: Path, data: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        jsonlib.dump(data, fh)
    os.chmod(path, 0o600)


def serve(session: Any, *, port: int = 0, open_browser: bool = True, on_ready=None,
          door: Path | None = None, coder: str | None = None) -> None:
    """Serve on 127.0.0.1 only until interrupted (Ctrl+C or SIGTERM). ``port=0`` picks a free port.
    With ``door`` (a folder) and ``coder`` the token and port are the ones kept there, so a
    restarted session answers the tab that was open; a remembered port now taken by another
    program gives way to a free one (and the new address is printed)."""
    token, path = new_token(), None
    if door is not None and coder is not None:
        token, port, path = remembered_door(door, coder, port)
    try:
        sock = bind("127.0.0.1", port)
    except OSError:
        if path is None or not port:
            raise
        sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    if path is not None:
        _write_private(path, {"coder": coder, "token": token, "port": port})
    app = create_app(session, token, port)
    url = f"http://127.0.0.1:{port}/?token={token}"
    if on_ready:
        on_ready(url)
    if open_browser:
        threading.Timer(0.8, lambda: webbrowser.open(url)).start()
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM and then raises it again with the handler that was
    # there before: with this one the caller's cleanup runs, as it does for Ctrl+C
    previous = signal.signal(signal.SIGTERM, interrupt) if threading.current_thread() is threading.main_thread() else None
    try:
        server.run(sockets=[sock])
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
