"""The team server (``autocode serve``): one project, many coders, each with an account.

Every request must name one of the allowed hosts (403 otherwise: against DNS rebinding). A login
(:mod:`autocode.app.accounts`) sets an HttpOnly, SameSite=Strict cookie (Secure, and named
``__Host-...``, behind https); the token it carries is new at every login, and the store keeps only
its hash. Without a login, the API answers 401 and the pages send you to /login.

Writes are JSON only (415 otherwise), carry the login's CSRF token in ``X-CSRF-Token`` (compared in
constant time), and are refused as cross-site (403) when ``Sec-Fetch-Site`` is not ``same-origin``
or ``Origin`` names another site. The login form, before there is a login, is defended by a
double-submit token: GET /login sets a random SameSite=Strict cookie and puts the same value in the
form, and POST /login wants both to match. (Not by an Origin check alone: the pages send
``Referrer-Policy: no-referrer``, under which browsers send ``Origin: null`` on a form post, which
a sandboxed frame on any site can send too.)

Coders and owners code (GET /api/state, POST /api/answer, /api/undo as in ``autocode annotate``);
owners also see /owner and call /api/owner/*; a coder gets 403 there. The :class:`Team` is not
re-entrant, so its calls and the store's (logins) run one at a time under one lock, off the event
loop (argon2 and a refit do not stall the other coders' requests).
"""

from __future__ import annotations

import hmac
import html
import secrets
import signal
import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..app import accounts
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
    read_raw,
    static_file,
)
from .requests import Answer, Empty, Overlap, TooLarge, Undo

#: The team pages' headers: as ``autocode annotate``'s, but the login form may post to this site.
TEAM_HEADERS = {**SECURITY_HEADERS, "Content-Security-Policy": SECURITY_HEADERS["Content-Security-Policy"].replace(
    "form-action 'none'", "form-action 'self'")}
WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")
MAX_FORM_BYTES = 4096
PRELOGIN_MAX_AGE = 3600


def host_names(host: str, port: int, allowed_hosts: Iterable[str] = ()) -> set[str]:
    """The Host header values answered: the loopback names on ``port``, the bound address itself
    when it is a specific one, and each allowed name with or without ``:port``."""
    names = {f"{h}:{port}" for h in LOCAL_HOSTS}
    if host not in WILDCARD_HOSTS:
        names.add(f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}")
    for name in allowed_hosts:
        name = name.strip().lower()
        if name:
            names |= {name, f"{name}:{port}"}
    return {n.lower() for n in names}


class _Door:
    """ASGI middleware: refuse an unexpected Host (403) and put the security headers on every reply."""

    def __init__(self, app: ASGIApp, hosts: set[str]) -> None:
        self.app, self.hosts = app, hosts
        self.headers = [(k.lower().encode(), v.encode()) for k, v in TEAM_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
        if host not in self.hosts:
            reply = json_reply({"error": f"unexpected Host {host!r}; the server answers "
                                         "only the names given with --allow-host"}, 403, TEAM_HEADERS)
            await reply(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in self.headers if h[0] not in have]
            await send(message)

        await self.app(scope, receive, with_headers)


class _Serialised:
    """``target`` with every method call under ``lock`` (the store: the Team's calls hold it too)."""

    def __init__(self, target: Any, lock: threading.Lock) -> None:
        self._target, self._lock = target, lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call


def create_team_app(team: Any, store: Any, *, host: str, port: int, secure_cookies: bool,
                    allowed_hosts: Iterable[str] = (), login_lifetime: timedelta = accounts.LOGIN_LIFETIME,
                    throttle: accounts.Throttle | None = None) -> Starlette:
    """The ASGI app of a team server bound on ``host:port`` over ``team`` and its workspace's ``store``.
    ``secure_cookies``: behind https (the cookies get Secure and the ``__Host-`` prefix)."""
    hosts = host_names(host, port, allowed_hosts)
    origins = {f"{scheme}://{name}" for name in hosts for scheme in ("http", "https")}
    lock = threading.Lock()  # one Team or store call at a time: neither is re-entrant
    logins = _Serialised(store, lock)
    throttle = throttle or accounts.Throttle()
    prefix = "__Host-" if secure_cookies else ""
    login_cookie, prelogin_cookie = f"{prefix}autocode_login", f"{prefix}autocode_prelogin"

    def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", secure=secure_cookies, httponly=True,
                            samesite="strict")

    def cross_site(request: Request) -> Response | None:
        site = request.headers.get("sec-fetch-site")
        origin = request.headers.get("origin")
        if (site is not None and site != "same-origin") or (origin not in (None, "null")
                                                              and origin.lower() not in origins):
            return json_reply({"error": "cross-site request refused"}, 403)
        return None

    async def authorised(request: Request, *, write: bool = False, owner: bool = False,
                         page: bool = False) -> dict[str, Any] | Response:
        """The request's login, or the reply that refuses it."""
        if write and (refused := cross_site(request)) is not None:
            return refused
        login = await run_in_threadpool(accounts.current, logins, request.cookies.get(login_cookie))
        if login is None:
            if page:
                return RedirectResponse("/login", 303)
            return json_reply({"error": "not logged in, or the login has ended: log in again"}, 401)
        if owner and login["role"] != "owner":
            if page:
                return PlainTextResponse("This page is for the project's owners.", 403)
            return json_reply({"error": "only an owner may do this"}, 403)
        if write:
            given = request.headers.get("x-csrf-token", "")
            if not hmac.compare_digest(given.encode(), login["csrf"].encode()):
                return json_reply({"error": "missing or wrong CSRF token: reload the page"}, 403)
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                return json_reply({"error": "JSON only"}, 415)
        return login

    async def call(fn: Callable[[], Any]) -> Response:
        """Run a Team call under the lock, off the event loop; its refusals are 400s."""
        def locked() -> Any:
            with lock:
                return fn()
        try:
            return json_reply(await run_in_threadpool(locked))
        except AutocodeError as exc:
            return json_reply({"error": str(exc)}, 400)

    async def write(request: Request, schema: type, owner: bool, fn: Callable[[dict[str, Any], Any], Any]) -> Response:
        """A POST: its login, its body validated against ``schema``, then ``fn(login, body)``."""
        login = await authorised(request, write=True, owner=owner)
        if isinstance(login, Response):
            return login
        try:
            given = await read_body(request, schema)
            if isinstance(given, Answer):
                given.check_sizes()
        except TooLarge as exc:
            return json_reply({"error": str(exc)}, 413)
        except BadRequest as exc:
            return json_reply({"error": exc.message, "field": exc.field}, 400)
        return await call(lambda: fn(login, given))

    async def read(request: Request, owner: bool, fn: Callable[[dict[str, Any]], Any]) -> Response:
        login = await authorised(request, owner=owner)
        if isinstance(login, Response):
            return login
        return await call(lambda: fn(login))

    # ------------------------------------------------------------------ pages
    def login_page(message: str = "", name: str = "", status: int = 200,
                   headers: dict[str, str] | None = None) -> Response:
        form_token = secrets.token_urlsafe(32)
        text = (STATIC / "login.html").read_text(encoding="utf-8")
        text = text.replace("{{CSRF}}", form_token).replace("{{NAME}}", html.escape(name, quote=True)).replace(
            "{{MESSAGE}}", f'<p id="message" role="alert">{html.escape(message)}</p>' if message else "")
        response = HTMLResponse(text, status, headers=headers)
        set_cookie(response, prelogin_cookie, form_token, PRELOGIN_MAX_AGE)
        return response

    async def show_login(request: Request) -> Response:
        return login_page()  # also when logged in: logging in again (as someone else) ends this login

    async def do_login(request: Request) -> Response:
        if (refused := cross_site(request)) is not None:
            return refused
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return json_reply({"error": "the login form posts application/x-www-form-urlencoded"}, 415)
        try:
            form = parse_qs((await read_raw(request, MAX_FORM_BYTES)).decode("utf-8"), max_num_fields=8)
        except TooLarge as exc:
            return json_reply({"error": str(exc)}, 413)
        except (UnicodeDecodeError, ValueError):
            return login_page("The form could not be read: try again.", status=400)
        field = {k: v[0] for k, v in form.items() if v}
        name, password = field.get("name", "").strip(), field.get("password", "")
        form_token, cookie = field.get("csrf", ""), request.cookies.get(prelogin_cookie, "")
        if not cookie or not hmac.compare_digest(form_token.encode(), cookie.encode()):
            return login_page("The login form had expired: log in again.", name, 403)
        client = request.client.host if request.client else "unknown"
        try:
            token, _ = await run_in_threadpool(lambda: accounts.login(logins, name, password, client,
                                                                      throttle=throttle, lifetime=login_lifetime))
        except accounts.TooManyAttempts as exc:
            return login_page(str(exc), name, 429, {"Retry-After": str(exc.retry_after)})
        except accounts.AccountDisabled as exc:
            return login_page(str(exc), name, 403)
        except accounts.LoginError as exc:
            return login_page(str(exc), name, 401)
        # a login cookie sent along (an earlier login, or one planted) is ended, never carried on
        await run_in_threadpool(accounts.logout, logins, request.cookies.get(login_cookie))
        response = RedirectResponse("/", 303)
        set_cookie(response, login_cookie, token, int(login_lifetime.total_seconds()))
        response.delete_cookie(prelogin_cookie, path="/", secure=secure_cookies, httponly=True, samesite="strict")
        return response

    async def do_logout(request: Request) -> Response:
        login = await authorised(request, write=True)
        if isinstance(login, Response):
            return login
        await run_in_threadpool(accounts.logout, logins, request.cookies.get(login_cookie))
        response = json_reply({"logged_out": login["name"]})
        response.delete_cookie(login_cookie, path="/", secure=secure_cookies, httponly=True, samesite="strict")
        return response

    def page(name: str, login: dict[str, Any]) -> Response:
        text = (STATIC / name).read_text(encoding="utf-8").replace("?token={{TOKEN}}", "")
        text = text.replace("{{CSRF}}", login["csrf"]).replace("{{ROLE}}", login["role"])
        return HTMLResponse(text)

    async def index(request: Request) -> Response:
        login = await authorised(request, page=True)
        return login if isinstance(login, Response) else page("index.html", login)

    async def owner_page(request: Request) -> Response:
        login = await authorised(request, owner=True, page=True)
        return login if isinstance(login, Response) else page("owner.html", login)

    async def static(request: Request) -> Response:
        found = static_file(request.path_params["name"], TEAM_HEADERS)
        return found if found is not None else json_reply({"error": "not found"}, 404)

    # ------------------------------------------------------------------ the API
    async def state(request: Request) -> Response:
        return await read(request, False, lambda login: team.coder_state(login["name"]))

    async def answer(request: Request) -> Response:
        return await write(request, Answer, False, lambda login, given: team.answer(login["name"], given.model_dump()))

    async def undo(request: Request) -> Response:
        return await write(request, Undo, False, lambda login, _: team.undo(login["name"]))

    async def overview(request: Request) -> Response:
        return await read(request, True, lambda _: team.overview())

    async def agreement(request: Request) -> Response:
        return await read(request, True, lambda _: team.agreement())

    async def overlap(request: Request) -> Response:
        return await write(request, Overlap, True,
                           lambda _, given: {"overlap": team.set_overlap(given.share, given.group or None)})

    def start_retrain() -> dict[str, bool]:
        team.retrain()
        return {"retraining": True}

    async def retrain(request: Request) -> Response:
        return await write(request, Empty, True, lambda _, __: start_retrain())

    routes = [
        Route("/login", show_login),
        Route("/login", do_login, methods=["POST"]),
        Route("/logout", do_logout, methods=["POST"]),
        Route("/", index),
        Route("/owner", owner_page),
        Route("/static/{name}", static),
        Route("/api/state", state),
        Route("/api/answer", answer, methods=["POST"]),
        Route("/api/undo", undo, methods=["POST"]),
        Route("/api/owner/overview", overview),
        Route("/api/owner/agreement", agreement),
        Route("/api/owner/overlap", overlap, methods=["POST"]),
        Route("/api/owner/retrain", retrain, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(_Door, hosts=hosts)
    return app


def serve(team: Any, store: Any, host: str = "127.0.0.1", port: int = 0, *, secure_cookies: bool = False,
          allowed_hosts: Iterable[str] = (), login_lifetime: timedelta = accounts.LOGIN_LIFETIME,
          on_ready: Callable[[str, int], None] | None = None) -> None:
    """Serve the team server on ``host:port`` until interrupted (Ctrl+C or SIGTERM); ``port=0``
    picks a free port. ``on_ready(host, port)`` is called once it is bound. X-Forwarded-For is
    believed only from a reverse proxy on this machine (127.0.0.1), for the per-client login limit."""
    sock = bind(host, port)
    port = sock.getsockname()[1]
    app = create_team_app(team, store, host=host, port=port, secure_cookies=secure_cookies,
                          allowed_hosts=allowed_hosts, login_lifetime=login_lifetime)
    if on_ready:
        on_ready(host, port)
    config = uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=True,
                            forwarded_allow_ips="127.0.0.1")
    server = uvicorn.Server(config)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, interrupt) if main else None
    try:
        server.run(sockets=[sock])
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
