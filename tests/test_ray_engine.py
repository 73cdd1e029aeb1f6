"""`autocode suggest ... --engine ray`: the same rows as the local engine, on a local Ray cluster."""

import csv
import json
import os

import pytest
from conftest import DEMO

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'autocode[ray]' to run the Ray engine tests")

FG4 = DEMO / "coded" / "focus-group-4.csv"


@pytest.fixture(scope="module")
def cluster():
    """A two-CPU local cluster, no dashboard, no usage stats (nothing reaches the network)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def many_rows(path, n=600):
    """Rows of focus group 4 repeated under new ids and groups, moderators included."""
    with FG4.open(encoding="utf-8") as fh:
        base = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "group", "speaker", "text"], extrasaction="ignore")
        w.writeheader()
        w.writerows({**base[i % len(base)], "id": f"x{i}", "group": f"G{i // 250}"} for i in range(n))
    return path


def read(path, fmt):
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# the default run checks CSV on 300 rows (a local cluster costs ~10 s to start, each actor ~10 s
# to load the model); JSONL on 600 rows, with every score and evidence field, runs with -m slow
@pytest.mark.parametrize("fmt,n", [("csv", 300), pytest.param("jsonl", 600, marks=pytest.mark.slow)])
def test_ray_rows_equal_local_rows(suggest_ws, cluster, tmp_path, fmt, n):
    src = many_rows(tmp_path / "in.csv", n)
    local, distributed = tmp_path / f"local.{fmt}", tmp_path / f"ray.{fmt}"
    r = suggest_ws("suggest", src, "--out", local, "--format", fmt, "--chunk-size", 64, "--precision", "fp32")
    assert r.exit_code == 0, r.output
    # two actors (the default) of 0.875 CPU: what the two CPUs leave after the 0.25 reading takes
    r = suggest_ws("suggest", src, "--out", distributed, "--format", fmt, "--chunk-size", 64, "--precision", "fp32", "--engine", "ray")
    assert r.exit_code == 0, r.output
    want, got = read(local, fmt), read(distributed, fmt)
    with src.open(encoding="utf-8") as fh:
        participants = [row["id"] for row in csv.DictReader(fh) if row["speaker"] != "Moderator"]
    assert [g["id"] for g in got] == [w["id"] for w in want] == participants  # every codable row, in input order
    for w, g in zip(want, got):
        if fmt == "csv":
            assert (g["codes"], g["probabilities"], g["reason"]) == (w["codes"], w["probabilities"], w["reason"])
        else:
            assert [c["code"] for c in g["codes"]] == [c["code"] for c in w["codes"]]
            # scores are rounded to 4 digits: float noise between processes (other BLAS threads) can
            # move a score lying on a rounding edge by one unit (3 of 24,576 here)
            assert all(abs(g["scores"][k] - v) <= 1e-4 + 1e-9 for k, v in w["scores"].items())
            assert (g["similar"], g["words"], g["top_code"]) == (w["similar"], w["words"], w["top_code"])
            evidence = lambda r: [(c["words"], [(x["segment_id"], x["coders"]) for x in c["like"]],  # noqa: E731
                                   c["unlike"] and (c["unlike"]["segment_id"], c["unlike"]["coders"]))
                                  for c in r["codes"]]
            assert evidence(g) == evidence(w)
    if fmt == "csv":
        assert distributed.read_bytes() == local.read_bytes()
    else:  # the actors name the coders as the local engine does (they have no store)
        assert any(x["coders"] == ["coder_a"] for r in got for c in r["codes"] for x in c["like"])


def test_each_chunk_is_a_block_of_its_own(cluster, tmp_path):
    """Five chunks of 7 units are five blocks, in input order, so that every actor gets work
    (ray.data.read_parquet read such a folder as one block, which one actor coded alone)."""
    from autocode.app.ray_engine import read_units, write_units
    from autocode.records import Unit

    chunks = [[Unit(f"u{c}-{i}", f"G{c}", "P1", f"text {c} {i}", "") for i in range(7)] for c in range(5)]
    ds = read_units(ray, write_units(iter(chunks), tmp_path / "units")).materialize()
    assert ds.num_blocks() == 5
    assert [r["id"] for r in ds.iter_rows()] == [u.id for chunk in chunks for u in chunk]


def test_actors_that_leave_no_room_to_read_are_refused(suggest_ws, cluster, tmp_path):
    out = tmp_path / "s.csv"
    r = suggest_ws("suggest", many_rows(tmp_path / "in.csv", 20), "--out", out, "--engine", "ray",
                   "--actors", 2, "--cpus-per-actor", 1)
    assert r.exit_code == 2 and not out.exists()
    assert r.output.strip().splitlines() == [
        "error: 2 actors of 1 CPUs leave less than the 0.25 CPU that reading the input needs of the cluster's 2; "
        "use fewer --actors or a smaller --cpus-per-actor"]


def test_ray_engine_refuses_a_bad_file_before_starting(suggest_ws, tmp_path):
    """The input is checked before a cluster is started or joined (this test starts none)."""
    src = tmp_path / "bad.csv"
    src.write_text("id,text\n1,fine\n1,again\n", encoding="utf-8")
    out = tmp_path / "s.csv"
    r = suggest_ws("suggest", src, "--out", out, "--engine", "ray")
    assert r.exit_code == 2 and not out.exists()
    assert r.output.strip().splitlines() == [
        f"error: {src}:3: duplicate id '1' (first on line 2); give every segment its own id"]
