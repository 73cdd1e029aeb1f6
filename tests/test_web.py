"""The annotation page: its door (Host, token, JSON only), and the real page driven in headless Chromium."""

from __future__ import annotations

import shutil

import pytest
from starlette.testclient import TestClient

from autocode.app.session import AnnotationSession
from autocode.app.imports import import_files
from autocode.web.server import create_app, new_token
from autocode.app.workspace import Workspace
from conftest import DEMO, served

# one embedding cache for the module's workspaces and servers (conftest.py, shared_embedding_cache)
pytestmark = pytest.mark.usefixtures("shared_embedding_cache")


PORT = 8765


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = Workspace.init(tmp_path_factory.mktemp("web") / "ws")
    import_files(ws, [DEMO / "coded" / "focus-group-1.csv", DEMO / "coded" / "focus-group-3.csv"])
    hostile = tmp_path_factory.mktemp("web") / "hostile.txt"
    hostile.write_text("Moderator: Go on.\nParticipant 1: <script>document.title='pwned'</script> we run a choir "
                       "<b>on Tuesdays</b> & it helps.\nParticipant 2: The funding stops in March and nobody tells us.\n"
                       "Participant 3: We're not counsellors, and when someone is in crisis we just cope.\n"
                       "Participant 4: Honestly the volunteers are exhausted, two of them have had to step back.\n"
                       "Participant 2: The GP surgery sends people to us but never asks how it went.\n"
                       "Participant 5: Shall we have a biscuit before the next question?\n"
                       "Participant 1: Seeing someone sing again after months indoors, that's why we do it.\n",
                       encoding="utf-8")
    import_files(ws, [hostile], group="Hostile")
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def session(workspace):
    s = AnnotationSession.start(workspace, "web-coder", group="Hostile", background=False)
    yield s
    s.close()


@pytest.fixture
def client(session):
    token = new_token()
    app = create_app(session, token, PORT)
    return TestClient(app, base_url=f"http://127.0.0.1:{PORT}"), token


def test_the_door_answers_only_its_own_host_with_the_token(client):
    c, token = client
    ok = {"X-Autocode-Token": token}
    assert c.get("/api/state", headers=ok).status_code == 200
    assert c.get("/api/state").status_code == 403                                   # no token
    assert c.get("/api/state", headers={"X-Autocode-Token": "guess"}).status_code == 403
    assert c.get("/api/state", headers={**ok, "Host": f"evil.example:{PORT}"}).status_code == 403  # DNS rebinding
    assert c.get("/api/state", headers={**ok, "Host": "127.0.0.1:9999"}).status_code == 403
    assert c.get("/api/state", headers={**ok, "Host": f"localhost:{PORT}"}).status_code == 200
    fresh = TestClient(c.app, base_url=f"http://127.0.0.1:{PORT}")
    assert fresh.get("/").status_code == 403 and fresh.get("/static/app.js").status_code == 403
    page = fresh.get(f"/?token={token}")
    assert page.status_code == 200 and "samesite=strict" in page.headers["set-cookie"].lower()
    assert fresh.get("/static/app.js").status_code == 200  # the cookie serves the page's own files (reload)
    assert fresh.get("/api/state").status_code == 403  # but the API wants the header
    # a cross-site form post (no JSON content type, no token) cannot write codings
    assert c.post("/api/answer", data={"segment_id": "1"}).status_code == 403
    assert c.post("/api/answer", content=b"{}", headers={**ok, "Content-Type": "text/plain"}).status_code == 415
    page = c.get(f"/?token={token}")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "https://" not in page.text and "http://" not in page.text  # no CDN


def test_bad_answer_is_a_400_with_a_message(client):
    c, token = client
    r = c.post("/api/answer", json={"segment_id": "x"}, headers={"X-Autocode-Token": token})
    assert r.status_code == 400 and r.json()["error"]


def wait_status(page, text: str) -> None:
    """Wait for the status line to say ``text``; on failure say what it said instead."""
    try:
        page.wait_for_selector(f"#status:has-text('{text}')", timeout=20000)
    except Exception:
        raise AssertionError(f"status is {page.inner_text('#status')!r}, expected {text!r}") from None


@pytest.mark.browser
def test_the_real_page_in_headless_chromium(workspace, session):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("headless Chromium is not installed (scripts/test.sh installs Debian's chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    store = workspace.store
    with served(session) as url:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic"])
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#segment .who")
            assert "token" not in page.url  # taken out of the address bar
            shown = [page.inner_text("#segment")]
            # accept the suggestion as it stands, on the first segment that has one (small talk
            # such as "Shall we have a biscuit?" rightly gets none)
            for _ in range(6):
                if any(s["suggested"] for s in session._current["suggestions"]):
                    break
                page.keyboard.press("s")
                wait_status(page, "Skipped")
                shown.append(page.inner_text("#segment"))
            first = shown[-1]
            seg_first = session._current["segment_id"]
            suggested = sorted(s["path"] for s in session._current["suggestions"] if s["suggested"])
            page.keyboard.press("Enter")
            wait_status(page, "Saved")
            assert "accepted" in page.inner_text("#status")
            shown.append(page.inner_text("#segment"))
            assert shown[-1] != first
            assert sorted(store.codings("web-coder").get(seg_first, ())) == suggested
            # correct the next: search a code, tick it with Enter, then accept
            seg_second = session._current["segment_id"]
            page.keyboard.press("/")
            page.fill("#search", "Coping in the moment")
            page.keyboard.press("Enter")
            page.click("#accept")
            wait_status(page, "corrected")
            assert "Capability/Understanding boundaries/Coping in the moment" in store.codings("web-coder")[seg_second]
            row = next(r for r in store.coding_rows("web-coder") if r["segment_id"] == seg_second)
            assert row["source"] == "corrected"
            # undo the correction: it is gone from the store and the segment is back
            page.keyboard.press("u")
            wait_status(page, "Undone")
            assert seg_second not in store.seen("web-coder")
            assert session._current["segment_id"] == seg_second
            # reload: the page comes back (token kept in the tab), answers are still there
            page.reload()
            page.wait_for_selector("#segment .who")
            assert seg_first in store.seen("web-coder")
            assert "This session: 1 answered" in page.inner_text("#progress")
            # transcript text is shown as text, never run: skip until the hostile segment shows
            for _ in range(6):
                shown.append(page.inner_text("#segment"))
                if "<script>" in shown[-1] or not page.is_visible("#segment"):
                    break
                page.keyboard.press("s")
                wait_status(page, "Skipped")
            assert any("<script>document.title='pwned'</script>" in t and "<b>on Tuesdays</b>" in t for t in shown), shown
            assert page.title() == "autocode: annotate"
            browser.close()
