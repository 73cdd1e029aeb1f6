"""The team server's door (``autocode serve``): logins, roles, CSRF, cross-site and Host refusals,
cookie flags, rate limits, expiry; the ``users`` and ``serve`` commands; and one login in Chromium.

The app is the real one over the real :class:`~autocode.app.team.Team` on a small workspace
(two demo focus groups to learn from, a short pool to code), driven over httpx.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from starlette.testclient import TestClient
from test_web_api import small_workspace

from autocode.app import accounts
from autocode.app.team import Team
from autocode.app.workspace import Workspace
from autocode.web.team import create_team_app

# one embedding cache for the module's workspaces and servers (conftest.py, shared_embedding_cache)
pytestmark = pytest.mark.usefixtures("shared_embedding_cache")


PORT = 8777
BASE = f"http://127.0.0.1:{PORT}"
PASSWORD = "correct horse battery"
CODERS = ("cody", "dora", "ezra", "fern", "gus", "hana")
OWNER_READS = ["/api/owner/overview", "/api/owner/agreement"]
OWNER_WRITES = [("/api/owner/overlap", {"share": 0.25}), ("/api/owner/retrain", {})]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    ws = small_workspace(tmp_path_factory.mktemp("team") / "ws")
    accounts.add_user(ws.store, "olive", "owner", PASSWORD)
    for name in CODERS:
        accounts.add_user(ws.store, name, "coder", PASSWORD)
    team = Team.open(ws, background=False)
    yield ws, team
    team.close()
    ws.close()


def client_for(project, **options) -> TestClient:
    """A client of a fresh app (its own login throttle) on 127.0.0.1:PORT."""
    ws, team = project
    options.setdefault("secure_cookies", False)
    app = create_team_app(team, ws.store, host="127.0.0.1", port=PORT, **options)
    return TestClient(app, base_url=BASE)


def log_in(client: TestClient, name: str, password: str = PASSWORD, **headers: str) -> httpx.Response:
    """Fill the login form as a browser does (its form token and cookie), without following the redirect."""
    form = client.get("/login")
    assert form.status_code == 200, form.text
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    return client.post("/login", data={"name": name, "password": password, "csrf": token}, headers=headers,
                       follow_redirects=False)


def csrf_of(client: TestClient) -> str:
    """The CSRF token the annotation page carries for the logged-in user."""
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 200, page.status_code
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text).group(1)


def message(page: httpx.Response) -> str:
    return re.search(r'<p id="message" role="alert">([^<]*)</p>', page.text).group(1)


def logged_in(project, name: str, **options) -> tuple[TestClient, str]:
    client = client_for(project, **options)
    assert log_in(client, name).status_code == 303
    return client, csrf_of(client)


# ---------------------------------------------------------------------------- logging in
def test_a_wrong_password_and_an_unknown_name_get_the_same_401(project):
    client = client_for(project)
    wrong = log_in(client, "cody", "not the password at all")
    unknown = log_in(client, "nobody-by-this-name", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert message(wrong) == message(unknown) == "wrong name or password"
    assert "autocode_login" not in client.cookies
    assert client.get("/api/state").status_code == 401


def test_a_login_reaches_the_annotation_page_and_the_store_keeps_only_the_token_hash(project):
    ws, _ = project
    client = client_for(project)
    assert client.get("/api/state").status_code == 401                 # no login: 401 on the API ...
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"  # ... and to /login for a page
    assert client.get("/owner", follow_redirects=False).headers["location"] == "/login"
    r = log_in(client, "cody")
    assert r.status_code == 303 and r.headers["location"] == "/"
    state = client.get("/api/state")
    assert state.status_code == 200 and state.json()["coder"] == "cody"
    token = client.cookies["autocode_login"]
    assert ws.store.login(token) is None and ws.store.login(accounts.token_hash(token))["name"] == "cody"
    page = client.get("/")
    assert "{{" not in page.text and "token=" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<meta name="autocode-role" content="coder">' in page.text


def test_a_disabled_account_is_refused_and_its_cookie_stops_working_at_once(project):
    ws, _ = project
    client, csrf = logged_in(project, "dora")
    assert client.get("/api/state").status_code == 200
    accounts.disable_user(ws.store, "dora")
    assert client.get("/api/state").status_code == 401
    assert client.post("/api/undo", json={}, headers={"X-CSRF-Token": csrf}).status_code == 401
    again = log_in(client_for(project), "dora")
    assert again.status_code == 403 and "disabled" in message(again)
    assert log_in(client_for(project), "dora", "a wrong password!").status_code == 401  # nothing more told


def test_a_login_expires(project):
    client, _ = logged_in(project, "ezra", login_lifetime=timedelta(seconds=2))
    assert client.get("/api/state").status_code == 200
    time.sleep(2.2)
    assert client.get("/api/state").status_code == 401
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_logins_are_rate_limited(project):
    client = client_for(project)
    for _ in range(5):
        assert log_in(client, "fern", "a wrong password!").status_code == 401
    refused = log_in(client, "fern")                                    # even the right password now
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "too many failed logins" in message(refused)
    assert log_in(client, "gus").status_code == 303                     # another account is not locked
    # and per client: failures spread over many names, then any name is refused from there
    client = client_for(project, throttle=accounts.Throttle(per_account=5, per_client=3))
    for name in ("x1", "x2", "x3"):
        assert log_in(client, name, "a wrong password!").status_code == 401
    assert log_in(client, "gus").status_code == 429


# ---------------------------------------------------------------------------- session fixation, cookies
def test_a_planted_cookie_never_authenticates_and_every_login_gets_a_new_token(project):
    client = client_for(project)
    planted = "planted-by-an-attacker-" + "x" * 30
    client.cookies.set("autocode_login", planted, domain="127.0.0.1")
    assert client.get("/api/state").status_code == 401
    r = log_in(client, "gus")
    first = r.cookies["autocode_login"]
    assert first != planted and len(first) >= 40
    old = client_for(project)
    old.cookies.set("autocode_login", first, domain="127.0.0.1")
    assert old.get("/api/state").status_code == 200
    second = log_in(client, "gus").cookies["autocode_login"]
    assert second not in (first, planted)
    assert old.get("/api/state").status_code == 401                     # the login it replaced has ended


def test_cookie_flags(project):
    client = client_for(project)
    form = client.get("/login")
    prelogin = form.headers["set-cookie"].lower()
    assert "autocode_prelogin=" in prelogin and "httponly" in prelogin and "samesite=strict" in prelogin
    login = log_in(client, "gus").headers.get_list("set-cookie")
    cookie = next(c for c in login if c.startswith("autocode_login=")).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie and "secure" not in cookie
    secure = client_for(project, secure_cookies=True)
    form = secure.get("/login")
    assert form.headers["set-cookie"].startswith("__Host-autocode_prelogin=")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    r = secure.post("/login", data={"name": "gus", "password": PASSWORD, "csrf": token}, follow_redirects=False,
                    headers={"Cookie": f"__Host-autocode_prelogin={token}"})
    assert r.status_code == 303
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("__Host-autocode_login=")).lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie


def test_the_login_form_wants_its_own_token(project):
    client = client_for(project)
    client.get("/login")
    r = client.post("/login", data={"name": "gus", "password": PASSWORD, "csrf": "guessed"}, follow_redirects=False)
    assert r.status_code == 403 and "autocode_login" not in client.cookies
    fresh = client_for(project)                                          # no form cookie at all (a cross-site post)
    r = fresh.post("/login", data={"name": "gus", "password": PASSWORD, "csrf": "x"}, follow_redirects=False)
    assert r.status_code == 403
    r = fresh.post("/login", json={"name": "gus", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 415


# ---------------------------------------------------------------------------- roles
@pytest.mark.parametrize("path", OWNER_READS + ["/owner"])
def test_a_coder_gets_403_on_owner_reads(project, path):
    coder, _ = logged_in(project, "gus")
    owner, _ = logged_in(project, "olive")
    assert coder.get(path, follow_redirects=False).status_code == 403
    assert owner.get(path).status_code == 200


@pytest.mark.parametrize("path, body", OWNER_WRITES)
def test_a_coder_gets_403_on_owner_writes(project, path, body):
    coder, coder_csrf = logged_in(project, "gus")
    owner, owner_csrf = logged_in(project, "olive")
    assert coder.post(path, json=body, headers={"X-CSRF-Token": coder_csrf}).status_code == 403
    r = owner.post(path, json=body, headers={"X-CSRF-Token": owner_csrf})
    assert r.status_code == 200, r.text


def test_the_owner_sets_the_overlap_and_a_wrong_one_is_a_400(project):
    owner, csrf = logged_in(project, "olive")
    ok = {"X-CSRF-Token": csrf}
    r = owner.post("/api/owner/overlap", json={"share": 0.5, "group": "Pool"}, headers=ok)
    assert r.status_code == 200, r.text
    assert owner.get("/api/owner/overview").json()["overlap"]["Pool"] == pytest.approx(0.5)
    r = owner.post("/api/owner/overlap", json={"share": 1.5}, headers=ok)
    assert r.status_code == 400 and r.json()["field"] == "share"
    assert "owner.js" in owner.get("/owner").text


# ---------------------------------------------------------------------------- CSRF, cross-site, Host, JSON only
def test_every_write_needs_the_csrf_token(project):
    client, csrf = logged_in(project, "hana")
    segment = client.get("/api/state").json()["task"]["segment_id"]
    answer = {"segment_id": segment, "action": "skip"}
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": csrf[:-1]}):
        assert client.post("/api/answer", json=answer, headers=headers).status_code == 403
        assert client.post("/api/undo", json={}, headers=headers).status_code == 403
        assert client.post("/logout", json={}, headers=headers).status_code == 403
    assert client.get("/api/state").json()["task"]["segment_id"] == segment  # nothing was answered
    r = client.post("/api/answer", json=answer, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert client.post("/api/undo", json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    r = client.post("/api/answer", content=b"{}", headers={"X-CSRF-Token": csrf, "Content-Type": "text/plain"})
    assert r.status_code == 415
    r = client.post("/api/answer", json={"segment_id": "7"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 400 and r.json()["field"] == "segment_id"
    assert client.post("/logout", json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/api/state").status_code == 401


def test_cross_site_requests_are_refused(project):
    client, csrf = logged_in(project, "hana")
    ok = {"X-CSRF-Token": csrf}
    for bad in ({"Origin": "https://evil.example"}, {"Origin": f"http://127.0.0.1:{PORT + 1}"},
                {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}):
        assert client.post("/api/undo", json={}, headers={**ok, **bad}).status_code == 403, bad
        assert log_in(client_for(project), "hana", **bad).status_code == 403, bad
    same = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/undo", json={}, headers={**ok, **same}).status_code == 200
    assert log_in(client_for(project), "hana", **same).status_code == 303


def test_a_wrong_host_is_refused(project):
    client, _ = logged_in(project, "hana")
    for host in (f"evil.example:{PORT}", f"127.0.0.1:{PORT + 1}", "evil.example"):
        for path in ("/login", "/api/state", "/static/app.js", "/"):
            assert client.get(path, headers={"Host": host}).status_code == 403, (host, path)
    assert client.get("/api/state", headers={"Host": f"localhost:{PORT}"}).status_code == 200
    named = client_for(project, allowed_hosts=["code.example.org"])
    assert named.get("/login", headers={"Host": "code.example.org"}).status_code == 200
    assert named.get("/login", headers={"Host": "other.example.org"}).status_code == 403


# ---------------------------------------------------------------------------- the commands
@pytest.fixture
def cli_ws(cli):
    assert cli("init", str(cli.root), workspace=False).exit_code == 0
    return cli


def test_the_password_is_never_an_argument(cli_ws):
    r = cli_ws("users", "add", "anna", "--role", "coder", "--password", "a long password")
    assert r.exit_code == 2 and "No such option" in r.output
    r = cli_ws("users", "add", "anna", "a long password", "--role", "coder")
    assert r.exit_code == 2 and "unexpected extra argument" in r.output
    ws = Workspace.find(cli_ws.root)
    assert ws.store.account("anna") is None
    ws.close()


def test_users_add_reads_the_password_from_stdin(cli_ws, runner):
    from autocode.cli import app

    def users(*args: str, password: str | None = None):
        return runner.invoke(app, ["-w", str(cli_ws.root), "users", *args], input=password)

    r = users("add", "anna", "--role", "owner", password="a long password\n")
    assert r.exit_code == 0, r.output
    short = users("add", "ben", "--role", "coder", password="short\n")
    assert short.exit_code == 2 and "at least 10" in short.output and len(short.output.strip().splitlines()) == 1
    assert "Traceback" not in short.output
    assert users("add", "anna", "--role", "coder", password="another long one\n").exit_code == 2  # exists
    listed = users("list")
    assert "anna" in listed.output and "owner" in listed.output and "ben" not in listed.output
    assert "password" not in users("list", "--json").output
    ws = Workspace.find(cli_ws.root)
    try:
        token, _ = accounts.login(ws.store, "anna", "a long password", "test")
        assert accounts.current(ws.store, token)["role"] == "owner"
        assert users("disable", "anna").exit_code == 0
        assert accounts.current(ws.store, token) is None
        assert "disabled" in users("list").output
        assert users("enable", "anna").exit_code == 0
        token, _ = accounts.login(ws.store, "anna", "a long password", "test")
        assert users("password", "anna", password="a new long password\n").exit_code == 0
        assert accounts.current(ws.store, token) is None  # the old login ended with the old password
        with pytest.raises(accounts.LoginError):
            accounts.login(ws.store, "anna", "a long password", "test")
        accounts.login(ws.store, "anna", "a new long password", "test")
        assert users("role", "anna", "coder").exit_code == 0 and ws.store.account("anna")["role"] == "coder"
        assert users("role", "nobody", "coder").exit_code == 2
    finally:
        ws.close()


def test_serve_beyond_loopback_says_to_put_tls_in_front(tmp_path):
    root = tmp_path / "ws"
    ws = small_workspace(root)
    accounts.add_user(ws.store, "olive", "owner", PASSWORD)
    ws.close()
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("autocode")), "-w", str(root), "serve",
                             "--host", "0.0.0.0", "--port", str(port), "--overlap", "20%", "--overlap", "Pool=50%"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.time() + 180
        while "Team server on" not in log.read_text() and time.time() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        assert "put TLS in front" in text and "--secure-cookies" in text and "--allow-host" in text, text
        assert "Team server on" in text, text
        r = httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)
        assert r.status_code == 200 and 'name="password"' in r.text
        assert httpx.get(f"http://127.0.0.1:{port}/login", headers={"Host": "evil.example"}).status_code == 403
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    assert "Team server stopped." in log.read_text()


# ---------------------------------------------------------------------------- the browser
@pytest.mark.browser
def test_a_coder_logs_in_through_the_form_and_answers_a_segment(project):
    import shutil

    import uvicorn

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("headless Chromium is not installed (scripts/test.sh installs Debian's chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    ws, team = project
    port = free_port()
    app = create_team_app(team, ws.store, host="127.0.0.1", port=port, secure_cookies=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            writes: list[dict] = []
            page.on("request", lambda r: writes.append(r.headers) if r.method == "POST" and "/api/" in r.url else None)
            page.goto(f"http://127.0.0.1:{port}/")
            assert page.url.endswith("/login")
            page.fill("#name", "cody")
            page.fill("#password", PASSWORD)
            page.click("#submit")
            page.wait_for_selector("#segment .who", timeout=30000)
            assert "Coder: cody" in page.inner_text("#coder")
            segment = int(page.inner_text("#meta").rsplit("#", 1)[1])
            page.keyboard.press("0")
            page.wait_for_function("() => document.getElementById('status').textContent.includes('Saved')",
                                   timeout=30000)
            assert segment in ws.store.seen("cody")
            assert writes and all(w.get("x-csrf-token") for w in writes) and not any("x-autocode-token" in w
                                                                                     for w in writes)
            # the owner, in a browser of their own, sees cody's answer on /owner
            owner = browser.new_context().new_page()
            owner.on("pageerror", lambda e: errors.append(str(e)))
            owner.goto(f"http://127.0.0.1:{port}/login")
            owner.fill("#name", "olive")
            owner.fill("#password", PASSWORD)
            owner.click("#submit")
            owner.click("text=Owner page", timeout=30000)  # on the annotation page (the pool may be all leased)
            owner.wait_for_selector("#coders tbody tr >> text=cody", timeout=30000)
            owner.wait_for_function("() => document.getElementById('agreement-summary').textContent.includes('double-coded')")
            assert errors == []
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=5)
