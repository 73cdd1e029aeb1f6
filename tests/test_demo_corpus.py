"""The demo corpus: it imports cleanly, has the promised counts, and no near-duplicates."""

from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

from autocode.app.imports import import_files
from autocode.app.workspace import Workspace
from conftest import DEMO

CODED = sorted((DEMO / "coded").glob("*.csv"))
SECOND = sorted((DEMO / "second-coder").glob("*.csv"))
UNCODED = sorted((DEMO / "uncoded").glob("*.txt"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    ws = Workspace.init(tmp_path_factory.mktemp("demo") / "ws")
    import_files(ws, CODED + SECOND)
    for path in UNCODED:
        import_files(ws, [path], group=path.stem.replace("-", " ").title())
    yield ws
    ws.close()


def test_files_say_they_were_written_for_the_demo():
    for path in CODED + SECOND + UNCODED:
        assert "Written for the autocode demo" in path.read_text(encoding="utf-8").splitlines()[0], path
    assert "none of it is study data" in (DEMO / "README.md").read_text(encoding="utf-8").lower()


def test_counts(demo):
    store, book = demo.store, demo.store.codebook()
    assert len(CODED) == 6 and len(SECOND) == 2 and len(UNCODED) == 2
    participant = [s for s in store.segments(codable_only=True) if s.document.startswith("Focus Group")
                   and s.document not in {"Focus Group 7", "Focus Group 8"}]
    codings = store.codings("coder_a")
    seen = store.seen("coder_a")
    assert all(s.id in seen for s in participant)
    coded = [s for s in participant if codings.get(s.id)]
    assert len(coded) >= 700
    themes = Counter()
    subthemes = Counter()
    two_themes = 0
    for s in coded:
        closed = book.close_upward(codings[s.id])
        ts = [p for p in closed if book.codes[p].depth == 2 and book.codes[p].group == "COM-B"]
        themes.update(ts)
        subthemes.update(p for p in closed if book.codes[p].depth == 3)
        two_themes += len(ts) >= 2
    assert len(themes) == 7 and min(themes.values()) >= 50, themes
    assert len(subthemes) == 36 and min(subthemes.values()) >= 8, subthemes
    assert 0.10 <= two_themes / len(coded) <= 0.25
    no_code = len(participant) - len(coded)
    assert 0.07 <= no_code / len(participant) <= 0.20
    valence = {t: Counter() for t in themes}
    for s in coded:
        for t in {p for p in book.close_upward(codings[s.id]) if book.codes[p].depth == 2}:
            valence[t].update(c for c in codings[s.id] if c in {"Barrier", "Enabler"})
    assert min(valence["Opportunity/Partnerships"].values()) >= 10  # "both" in the frame
    assert valence["Opportunity/Implementation"]["Barrier"] > valence["Opportunity/Implementation"]["Enabler"]
    assert valence["Motivation/Mental health motivation"]["Enabler"] > valence["Motivation/Mental health motivation"]["Barrier"]


def test_second_coder_disagrees_plausibly_not_everywhere(demo):
    a, b = demo.store.codings("coder_a"), demo.store.codings("coder_b")
    both = demo.store.seen("coder_a") & demo.store.seen("coder_b")
    assert len(both) >= 240
    differ = sum(a.get(s, set()) != b.get(s, set()) for s in both)
    assert 0.10 <= differ / len(both) <= 0.40


def test_no_near_duplicate_segments(demo):
    texts = [s.text for s in demo.store.segments()]
    grams = [{t.lower()[i:i + 5] for i in range(max(len(t) - 4, 1))} for t in texts]
    vocab = {g: i for i, g in enumerate(set().union(*grams))}
    rows = np.repeat(np.arange(len(grams)), [len(g) for g in grams])
    cols = [vocab[g] for gs in grams for g in gs]
    m = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(grams), len(vocab)))
    inter = (m @ m.T).tocoo()
    sizes = np.asarray(m.sum(axis=1)).ravel()
    mask = inter.row < inter.col
    jac = inter.data[mask] / (sizes[inter.row[mask]] + sizes[inter.col[mask]] - inter.data[mask])
    worst = int(np.argmax(jac)) if len(jac) else None
    assert worst is None or jac[worst] <= 0.6, (texts[inter.row[mask][worst]], texts[inter.col[mask][worst]])
