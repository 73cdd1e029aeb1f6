"""The annotation page as a researcher uses it: headless Chromium at 1400x900 over a real session.

One small workspace (two demo focus groups to learn from, a short pool to code); every test that
answers gets its own coder, so each starts on the whole pool. Read-only tests share one session.
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import contextmanager

import pytest
from conftest import DEMO, served

from autocode.app.imports import import_files
from autocode.app.session import AnnotationSession
from autocode.app.workspace import Workspace

# one embedding cache for the module's workspaces and servers (conftest.py, shared_embedding_cache)
pytestmark = pytest.mark.usefixtures("shared_embedding_cache")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1400, "height": 900}
POOL = "Pool"
COPING = "Capability/Understanding boundaries/Coping in the moment"
KEYS = ["Enter", "a", "accept", "0", "no code", "s", "skip", "u", "Backspace", "undo", "1", "9", "toggle chip",
        "/", "search", "m", "memo", "Esc", "leave a field"]


def _needs_browser():
    if not CHROMIUM:
        pytest.skip("headless Chromium is not installed (scripts/test.sh installs Debian's chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright (python) is not installed")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    _needs_browser()
    ws = Workspace.init(tmp_path_factory.mktemp("page") / "ws")
    import_files(ws, [DEMO / "coded" / "focus-group-1.csv", DEMO / "coded" / "focus-group-3.csv"])
    pool = tmp_path_factory.mktemp("page") / "pool.txt"
    pool.write_text(
        "Moderator: Go on.\n"
        "Participant 1: We run a choir on Tuesdays and it helps people who have been indoors for months.\n"
        "Participant 2: The funding stops in March and nobody tells us whether there will be more, so we can't plan, "
        "we can't promise anyone a place next term, and every year we write the same bids to the same trusts and "
        "wait, and the people who come to us feel it, because they have been let down by services before and they "
        "can tell when we are worried; it is exhausting and it takes time away from the actual work with people.\n"
        "Participant 3: We're not counsellors, and when someone is in crisis in a session we just cope as best we can.\n"
        "Participant 4: Honestly the volunteers are exhausted, two of them have had to step back this year.\n"
        "Participant 2: The GP surgery sends people to us but never asks how it went.\n"
        "Participant 5: Shall we have a biscuit before the next question?\n"
        "Participant 1: Seeing someone sing again after months indoors, that's why we do it.\n",
        encoding="utf-8")
    import_files(ws, [pool], group=POOL)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def browser(workspace):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Coding:
    """A coder's session, served, with a page open on it."""

    def __init__(self, ws, session, page):
        self.ws, self.session, self.page, self.coder = ws, session, page, session.coder

    @property
    def task(self) -> dict:
        return self.session._current

    def status(self) -> str:
        return self.page.inner_text("#status")

    def wait_status(self, text: str, timeout: float = 20000) -> str:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function("t => document.getElementById('status').textContent.includes(t)",
                                        arg=text, timeout=timeout)
        except PlaywrightTimeout:
            raise AssertionError(f"status is {self.status()!r}, expected {text!r}") from None
        return self.status()

    def wait_segment(self, seg_id: int) -> None:
        self.page.wait_for_function("t => document.getElementById('meta').textContent.includes(t)",
                                    arg=f"#{seg_id}", timeout=20000)


@contextmanager
def _opened(workspace, browser, session, url):
    """A page on ``url`` at 1400x900; the test fails if the page throws."""
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("#segment .who")
    yield Coding(workspace, session, page)
    page.close()
    assert errors == [], f"the page threw: {errors}"


@contextmanager
def _coding(workspace, browser, coder):
    session = AnnotationSession.start(workspace, coder, group=POOL, background=False)
    try:
        with served(session) as url, _opened(workspace, browser, session, url) as coding:
            yield coding
    finally:
        session.close()


@pytest.fixture(scope="module")
def viewer_session(workspace):
    s = AnnotationSession.start(workspace, "viewer", group=POOL, background=False)
    yield s
    s.close()


@pytest.fixture(scope="module")
def viewer_url(viewer_session):
    with served(viewer_session) as url:
        yield url


@pytest.fixture
def viewer(workspace, browser, viewer_session, viewer_url):
    """A page on the read-only session: nothing it does reaches the store."""
    with _opened(workspace, browser, viewer_session, viewer_url) as coding:
        yield coding


def visible_tree_names(page) -> list[str]:
    return page.eval_on_selector_all(
        "#tree li", "els => els.filter(e => e.offsetParent !== null)"
                    ".map(e => e.querySelector(':scope > .row > label, :scope > .row > .notcodable').textContent.trim())")


# ---------------------------------------------------------------------------- 1. keys after a tree click
@pytest.mark.browser
def test_keys_work_after_clicking_a_checkbox_in_the_tree(workspace, browser):
    with _coding(workspace, browser, "tree-clicker") as c:
        page, seg = c.page, c.task["segment_id"]
        before = {s["path"] for s in c.task["suggestions"] if s["suggested"]}
        page.click(f"#tree input[data-path='{COPING}']")
        assert page.evaluate("document.activeElement.type") == "checkbox"  # the focus stays in the tree
        assert "Ticked Coping in the moment" in c.status()  # feedback on the click
        page.keyboard.press("Enter")
        c.wait_status("Saved")
        assert c.ws.store.codings(c.coder)[seg] == before | {COPING}
        assert "Coping in the moment" in c.status()
        assert ("corrected" if COPING not in before else "accepted") in c.status()
        # the other keys too, still after a click in the tree
        nxt = c.task["segment_id"]
        page.click("#tree input[type=checkbox] >> nth=0")
        page.click("#tree input[type=checkbox] >> nth=0")
        page.keyboard.press("s")
        c.wait_status("Skipped")
        assert nxt in c.session.skipped
        page.keyboard.press("u")
        c.wait_status("Undone")
        assert nxt not in c.session.skipped


# ---------------------------------------------------------------------------- 3. no code is its own key
@pytest.mark.browser
def test_enter_with_nothing_ticked_saves_nothing_and_0_saves_no_code(workspace, browser):
    with _coding(workspace, browser, "no-coder") as c:
        page, seg = c.page, c.task["segment_id"]
        for chip in page.query_selector_all(".chip.on"):
            chip.click()
        assert page.query_selector_all("#tree input:checked") == []
        page.keyboard.press("Enter")
        c.wait_status("Nothing is ticked: tick a code, or press 0 to save ‘no code’")
        page.click("#accept")
        c.wait_status("Nothing is ticked")
        time.sleep(0.3)
        assert c.ws.store.seen(c.coder) == set() and c.task["segment_id"] == seg  # nothing was sent
        assert page.is_visible("#none") and "No code" in page.inner_text("#none")
        page.keyboard.press("0")
        c.wait_status("Saved: no code")
        assert seg in c.ws.store.seen(c.coder) and seg not in c.ws.store.codings(c.coder)
        # 10. undo says what it took back, and the segment is shown again
        page.keyboard.press("u")
        text = c.wait_status("Undone")
        assert f"no code on segment #{seg} is removed; it is shown again" in text
        c.wait_segment(seg)
        assert seg not in c.ws.store.seen(c.coder)


# ---------------------------------------------------------------------------- 2. chips in two labelled rows
@pytest.mark.browser
def test_chips_are_grouped_and_show_their_thresholds(viewer):
    page, suggestions = viewer.page, viewer.task["suggestions"]
    assert suggestions, "the session gives no suggestions to show"
    assert all("threshold" in s for s in suggestions), "the server sends no per-code threshold"
    rows = {"#row-suggested": [s for s in suggestions if s["suggested"]],
            "#row-possible": [s for s in suggestions if not s["suggested"]]}
    assert page.inner_text("#row-suggested .rowlabel").lower() == "suggested"
    assert page.inner_text("#row-possible .rowlabel").lower() == "also possible"
    for row, expected in rows.items():
        chips = page.query_selector_all(f"{row} .chip")
        assert [ch.get_attribute("data-path") for ch in chips] == [s["path"] for s in expected]
        for ch, s in zip(chips, expected):
            text = ch.inner_text()
            assert f"{round(s['probability'] * 100)}%" in text
            if s["threshold"] is not None:
                assert f"ticks at {round(s['threshold'] * 100)}%" in text
            assert "own threshold" in ch.get_attribute("title")
            assert ("on" in ch.get_attribute("class").split()) == s["suggested"]  # pre-ticked: the Suggested row


# ---------------------------------------------------------------------------- 4. a readable stopping signal
@pytest.mark.browser
def test_the_header_says_what_the_stopping_signal_measures(viewer):
    page, progress = viewer.page, viewer.session.progress()
    signal = progress["signal"]
    header = page.inner_text("header")
    assert signal["measure"] in header
    assert f"This session: {progress['session_answered']} answered" in header
    assert f"({progress['coder_answered']} by you in all sessions)" in header
    assert f"Left in the pool: {progress['remaining']}" in header
    assert f"{signal['comparisons']} of {signal['needed']} comparisons so far; one every {signal['every']} answers" \
        in header
    assert f"Random checks answered: {signal['checks']} of {signal['min_checks']} needed for an estimate" in header
    assert "cross-validated" not in header  # the estimate comes from random checks, not from the strategy's picks
    # each code's progress, never-seen codes first, valence apart
    est = progress["estimate"]
    assert est is not None and est["codes"] and est["valence"]
    page.click("#codes-progress summary")
    rows = page.locator("#codes-progress-rows tr")
    assert rows.count() == len(est["codes"]) + len(est["valence"])
    first = est["codes"][0]
    assert rows.nth(0).inner_text().split("\t")[:2] == [first["name"], str(first["positives"])]
    assert "valence" in rows.nth(rows.count() - 1).get_attribute("class")
    assert page.inner_text("#verdict") == ("You can stop: predictions have stabilised" if signal["stop"]
                                           else "Keep going")
    assert f"{progress['training']} answers" not in header  # other coders' codings are not "answers"


# ---------------------------------------------------------------------------- 5. model version, reasons on screen
def _inside_viewport(page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not shown"
    assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], f"{selector} is off screen: {box}"
    assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"], f"{selector} is off screen: {box}"


@pytest.mark.browser
def test_model_version_and_every_reason_fit_on_a_1400x900_screen(workspace, browser):
    with _coding(workspace, browser, "layout") as c:
        page, seen, explained_any = c.page, 0, 0
        while page.is_visible("#segment"):
            assert page.evaluate("window.scrollY") == 0
            assert f"Suggestions by: {c.task['model_version']}" in page.inner_text("#model")
            _inside_viewport(page, "#model")
            for sel in ("#segment", "#suggestions", "#actions", "#keys"):
                _inside_viewport(page, sel)
            explained = [x for x in c.task["suggestions"] if x["suggested"] and x.get("evidence")]
            assert page.locator("#reason .evidence").count() == len(explained)
            for i, x in enumerate(explained):  # each ticked code: its examples, their coder, one without it
                block = page.locator("#reason .evidence").nth(i)
                assert block.locator(".similar li").count() == len(x["evidence"]["like"]) + 1
                assert all(f"· {', '.join(e['coders'])}" in block.inner_text() for e in x["evidence"]["like"])
                assert block.locator(".unlike").count() == 1
            explained_any += len(explained)
            if c.task["similar"]:
                _inside_viewport(page, "#reason .similar li >> nth=-1")
                panel = page.locator("#reason").bounding_box()
                last = page.locator("#reason .similar li >> nth=-1").bounding_box()
                assert last["y"] + last["height"] <= panel["y"] + panel["height"] + 1  # not cut off inside its panel
                seen += 1
            seg = c.task["segment_id"]
            page.keyboard.press("s")
            c.wait_status(f"Skipped · segment #{seg}")
        assert seen, "no task had similar segments to show"
        assert explained_any, "no task had a ticked code to explain"


# ---------------------------------------------------------------------------- 6. search and collapse
@pytest.mark.browser
def test_search_keeps_parents_and_hides_empty_groups(viewer):
    page = viewer.page
    page.keyboard.press("/")
    page.keyboard.type("Coping in the moment")
    assert visible_tree_names(page) == ["Capability", "Understanding boundaries", "Coping in the moment"]
    groups = page.eval_on_selector_all("#tree .group", "els => els.map(e => [e.querySelector('.group-name')"
                                                       ".textContent, e.offsetParent !== null])")
    assert [g for g, shown in groups if shown] == ["COM-B"] and len(groups) > 1  # Valence: no empty heading
    page.keyboard.press("Enter")  # ticks the first match
    assert page.is_checked(f"#tree input[data-path='{COPING}']")
    assert page.locator(f".chip[data-path='{COPING}']").get_attribute("aria-pressed") == "true"
    assert page.input_value("#search") == "" and len(visible_tree_names(page)) > 40  # the whole tree is back
    page.keyboard.press("/")
    page.keyboard.type("zzzz no such code")
    assert visible_tree_names(page) == []
    assert page.eval_on_selector_all("#tree .group", "els => els.filter(e => e.offsetParent !== null).length") == 0


@pytest.mark.browser
def test_the_tree_collapses_and_expands(viewer):
    page = viewer.page
    capability = page.locator("#tree li[data-path='Capability'] > .row .twisty")
    coping = page.locator(f"#tree input[data-path='{COPING}']")
    assert capability.get_attribute("aria-expanded") == "true" and coping.is_visible()
    assert page.locator(f"#tree li[data-path='{COPING}'] > .row .twisty").is_hidden()  # a leaf has no toggle
    capability.click()
    assert capability.get_attribute("aria-expanded") == "false" and coping.is_hidden()
    assert page.locator("#tree li[data-path='Opportunity']").is_visible()  # the other domains stay
    capability.click()
    assert capability.get_attribute("aria-expanded") == "true" and coping.is_visible()
    valence = page.locator("#tree .group-toggle", has_text="Valence")
    barrier = page.locator("#tree input[data-path='Barrier']")
    valence.click()
    assert valence.get_attribute("aria-expanded") == "false" and barrier.is_hidden()
    valence.click()
    assert barrier.is_visible()
    # a search opens what it finds
    capability.click()
    valence.click()
    page.fill("#search", "coping")
    assert coping.is_visible() and capability.get_attribute("aria-expanded") == "true"
    page.fill("#search", "barrier")
    assert barrier.is_visible() and valence.get_attribute("aria-expanded") == "true"


# ---------------------------------------------------------------------------- 7. the done screen
@pytest.mark.browser
def test_the_done_screen_tells_what_was_answered_and_skipped(workspace, browser):
    with _coding(workspace, browser, "finisher") as c:
        page, answered, skipped, n = c.page, 0, 0, 0
        while page.is_visible("#segment"):
            seg = c.task["segment_id"]
            if n % 2:
                page.keyboard.press("s")
                c.wait_status(f"Skipped · segment #{seg}")
                skipped += 1
            else:
                page.keyboard.press("0")
                c.wait_status(f"Saved: no code · segment #{seg}")
                answered += 1
            n += 1
        assert answered and skipped
        done = page.inner_text("#done")
        assert f"This session: {answered} answered, {skipped} skipped." in done
        assert "Skipped segments are not coded; run the session again to see them." in done
        for sel in ("#memo", "#memo-label", "#suggestions", "#accept", "#none", "#skip", "#segment", "#reason"):
            assert page.is_hidden(sel), f"{sel} is still shown on the done screen"
        assert page.is_visible("#undo")  # undo brings the last one back
        page.click("#undo")
        c.wait_status("Undone")
        assert page.is_visible("#segment") and page.is_hidden("#done")


# ---------------------------------------------------------------------------- 8. every key on the page
@pytest.mark.browser
def test_every_key_is_listed_on_the_page(viewer):
    page = viewer.page
    _inside_viewport(page, "#keys")
    legend = page.inner_text("#keys")
    for key in KEYS:
        assert key in legend, f"{key!r} is not in the key legend {legend!r}"


# ---------------------------------------------------------------------------- 9. resilience
@pytest.mark.browser
def test_an_answer_whose_reply_was_lost_is_resent_with_the_same_id(workspace, browser):
    with _coding(workspace, browser, "unlucky") as c:
        page, seg = c.page, c.task["segment_id"]
        sent: list[dict] = []

        def lose_the_first_reply(route):
            sent.append(json.loads(route.request.post_data))
            if len(sent) == 1:
                route.fetch()  # the server commits it ...
                route.abort("connectionreset")  # ... but the page never hears back
            else:
                route.continue_()

        page.route("**/api/answer", lose_the_first_reply)
        page.click(f"#tree input[data-path='{COPING}']")
        page.keyboard.press("Enter")
        text = c.wait_status("Not confirmed: the server did not answer. Retrying when it is back…")
        assert "Not saved" not in text
        text = c.wait_status("Saved (it had reached the server before it stopped)")
        assert "Coping in the moment" in text
        assert len(sent) == 2 and sent[0]["answer_id"] == sent[1]["answer_id"] and sent[0]["answer_id"]
        assert c.session.answered == 1 and c.ws.store.seen(c.coder) == {seg}  # exactly one answer
        c.page.unroute("**/api/answer")
        # the next answer gets a fresh id
        ids = []
        page.on("request", lambda r: ids.append(json.loads(r.post_data)["answer_id"]) if "/api/answer" in r.url else None)
        page.keyboard.press("s")
        c.wait_status("Skipped")
        assert ids and ids[0] != sent[0]["answer_id"]


@pytest.mark.browser
def test_an_unconfirmed_answer_survives_a_reload_of_the_tab(workspace, browser):
    with _coding(workspace, browser, "reloader") as c:
        page, seg = c.page, c.task["segment_id"]
        page.route("**/api/answer", lambda route: route.abort("connectionrefused"))  # never reaches the server
        page.keyboard.press("0")
        c.wait_status("Not confirmed")
        assert not c.ws.store.seen(c.coder)
        page.unroute("**/api/answer")
        page.reload()  # the researcher reloads before the retry went through
        c.wait_status("Saved")
        assert c.ws.store.seen(c.coder) == {seg} and c.session.answered == 1


@pytest.mark.browser
def test_refusals_are_explained(viewer):
    page = viewer.page
    replies = [(403, {"error": "missing or wrong session token"}),
               (400, {"error": "the memo is too long", "field": "memo"}),
               (413, {"error": "the request is too large (at most 64 KiB)"})]

    def refuse(route):
        code, body = replies.pop(0)
        route.fulfill(status=code, content_type="application/json", body=json.dumps(body))

    page.route("**/api/answer", refuse)
    page.keyboard.press("s")
    text = viewer.wait_status("session token is no longer valid")
    assert "autocode annotate" in text
    page.keyboard.press("s")
    assert "the memo is too long" in viewer.wait_status("Not saved")
    page.keyboard.press("Escape")
    page.keyboard.press("s")
    assert "at most 64 KiB" in viewer.wait_status("too large")
    assert viewer.ws.store.seen("viewer") == set()


@pytest.mark.browser
def test_after_kill_9_and_a_restart_the_open_tab_carries_on(tmp_path, browser):
    """The real `autocode annotate`, killed with -9 while the tab is open: the tab says the answer
    is not confirmed, the restarted command answers the same tab (same address and token), the
    answer is re-sent and saved once, and undo reaches the answer given before the kill."""
    import os
    import signal

    from test_web_api import _start, small_workspace

    root = tmp_path / "ws"
    small_workspace(root).close()
    proc, url = _start(root, tmp_path / "first.log")
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(url)
        page.wait_for_selector("#segment .who")
        first = page.inner_text("#meta")
        page.keyboard.press("0")
        page.wait_for_function("() => document.getElementById('status').textContent.includes('Saved')")
        assert page.inner_text("#meta") != first
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        page.keyboard.press("0")
        page.wait_for_function("() => document.getElementById('status').textContent.includes('Not confirmed')")
        proc, url2 = _start(root, tmp_path / "second.log")
        assert url2 == url
        page.wait_for_function("() => document.getElementById('status').textContent.includes('Saved')",
                               timeout=30000)
        ws = Workspace.find(root)
        try:
            assert len(ws.store.seen("kim")) == 2
            answers = [a for a in ws.store.answers(1) if a["action"] != "undo"]
            assert len(answers) == 2, answers  # the re-sent answer is saved once
        finally:
            ws.close()
        page.keyboard.press("u")
        page.wait_for_function("() => document.getElementById('status').textContent.includes('Undone')")
        page.evaluate("() => { document.getElementById('status').textContent = ''; }")
        page.keyboard.press("u")  # the answer given before the kill
        page.wait_for_function("() => document.getElementById('status').textContent.includes('Undone')")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        ws = Workspace.find(root)
        try:
            assert not ws.store.seen("kim")
            assert ws.store.session_info(1)["ended_at"] is not None
        finally:
            ws.close()
    finally:
        page.close()
        if proc.poll() is None:
            proc.kill()
