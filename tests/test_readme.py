"""The README's Python example runs as it stands, on the demo corpus."""

import re
from pathlib import Path

import pytest

# one embedding cache for the module's workspaces and servers (conftest.py, shared_embedding_cache)
pytestmark = pytest.mark.usefixtures("shared_embedding_cache")


README = Path(__file__).resolve().parent.parent / "README.md"


def python_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## From Python"):text.index("## How the code is laid out")]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_python_example_runs_on_the_demo(tmp_path, monkeypatch, capsys):
    code = python_example()
    assert len(code.strip().splitlines()) <= 16
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "coder_a vs coder_b vs model:default: mean kappa" in out
    assert (tmp_path / "my-study" / "models" / "default" / "card.json").exists()
    assert (tmp_path / "my-study" / "coded.qdpx").stat().st_size > 0
    ws = namespace["ws"]
    assert namespace["report"].totals()["codings"] > 0
    assert all(r["segment_id"] in ws.store.seen("model:default") for r in namespace["rows"])
