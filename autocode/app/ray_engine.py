"""``autocode suggest ... --engine ray``: the streaming suggestions computed by a Ray cluster's actors.

The driver reads and checks the input as the local engine does (:func:`.streaming.file_units`:
the same ids, the same contexts, which need the rows before each row, and the same one-line
errors), writing the units chunk by chunk to temporary Parquet files on its own disk, one per
chunk. Ray Data reads them (:func:`unit_files`: one read task and one block per file, on the
driver's node); ``map_batches`` runs :class:`Suggester` actors (each loads the saved model once,
from bytes shipped through the object store, so the model folder need not be on the other
nodes), and the driver writes their rows, in input order, to OUT with the local engine's writer.
Ray is imported inside the functions (an optional extra).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..classifier.persist import load_model as load_from_disk
from ..embeddings import Embedder
from ..errors import AutocodeError, InputError
from ..io.rowstream import RowWriter
from ..records import Unit
from ..store.embedding_cache import EmbeddingCache
from .models import load_model, model_folder
from .streaming import CHUNK, StreamResult, file_units, streamable
from .suggestions import FORMATS, model_coders, output_columns, output_rows, predict
from .workspace import Workspace

UNIT_COLUMNS = ("id", "group", "speaker", "text", "context")
READ_CPUS = 0.25
"""CPUs Ray reserves for reading one chunk file. Measured on a 2-CPU local cluster (two actors of
0.5 CPU, 16 chunks): with read tasks of 1 CPU the second actor never started and one actor coded
every chunk; with 0.25 both coded (7 to 10 chunks each) and the run took 10 s instead of 13; with 0
both coded but Ray Data scheduled the reads so late that the run took 17-19 s."""


class RayMissingError(AutocodeError):
    """``--engine ray`` without Ray installed, or no cluster at the address given."""


def import_ray() -> Any:
    """The ``ray`` module, or one line saying how to install it."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
        import ray.data
    except ImportError:
        raise RayMissingError("--engine ray needs Ray: pip install 'autocode[ray]' (or pip install 'ray[data]')") from None
    return ray


def model_files(folder: Path) -> dict[str, bytes]:
    """Every file of a saved model folder, by path inside it (what the actors rebuild it from)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class Suggester:
    """A Ray Data actor: the saved model, loaded once, over batches of units; one JSON row out per unit.
    ``coders``: who coded the model's training segments (the driver reads it from the store)."""

    def __init__(self, files: list[Any], cache: str | None, codable: list[str], top_k: int | None, fmt: str,
                 coders: list[Any] | None = None, precision: str = "fp32") -> None:
        import ray

        self.folder = Path(tempfile.mkdtemp(prefix="autocode-model-"))
        for rel, data in ray.get(files[0]).items():
            (self.folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.folder / rel).write_bytes(data)
        vectors = EmbeddingCache(cache) if cache and os.access(cache, os.R_OK | os.W_OK) else None
        self.model = load_from_disk(self.folder, embedder=Embedder(vectors, precision=precision))
        self.codable, self.top_k, self.fmt = set(codable), top_k, fmt
        self.coders = ray.get(coders[0]) if coders else None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        units = [Unit(str(i), str(g), None if s is None else str(s), str(t), str(c))
                 for i, g, s, t, c in zip(*(batch[k] for k in UNIT_COLUMNS))]
        records = predict(self.model, units, codable=self.codable, top_k=self.top_k, coders=self.coders)
        rows = [json.dumps(r, ensure_ascii=False) for r in output_rows(records, self.fmt)]
        return {"row": np.array(rows, dtype=object)}


def connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at ``address`` (or start a local one); False when Ray was already running here."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except ConnectionError as exc:
        raise RayMissingError(f"no Ray cluster at {address!r} ({str(exc).splitlines()[0]}); "
                              "start one with `ray start --head`, or leave out --address") from None
    return True


def unit_files(paths: list[Path]) -> Any:
    """A Ray Data datasource that reads each chunk file as one block, in the order given.

    Written here because ``ray.data.read_parquet`` (Ray 2.60) packs small files into read tasks
    of at least ``target_min_block_size`` (1 MiB), whatever ``override_num_blocks`` says: it read
    16 chunk files as one block, which one actor then coded alone."""
    import pyarrow.parquet as pq
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class UnitFiles(Datasource):
        @property
        def supports_distributed_reads(self) -> bool:
            return False  # the files are on the driver's disk: Ray reads them on its node

        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list[ReadTask]:
            return [ReadTask(lambda path=path: [pq.read_table(path)],
                             BlockMetadata(num_rows=None, size_bytes=None, input_files=[str(path)], exec_stats=None))
                    for path in paths]

    return UnitFiles()


def read_units(ray: Any, parts: list[Path]) -> Any:
    """The Ray dataset of the chunk files: a block per file, in order (asking for as many blocks as
    files stops Ray Data splitting each read into more, towards its 200-block minimum)."""
    return ray.data.read_datasource(unit_files(parts), num_cpus=READ_CPUS, override_num_blocks=len(parts))


def write_units(units: Any, folder: Path) -> list[Path]:
    """Write each chunk of units to a Parquet file of :data:`UNIT_COLUMNS` in ``folder``, in
    input order: a block of its own, a unit of work any actor can take."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, pa.string()) for c in UNIT_COLUMNS])
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for chunk in units:
        if chunk:
            path = folder / f"units-{len(files):08d}.parquet"
            pq.write_table(pa.table({"id": [u.id for u in chunk], "group": [u.group for u in chunk],
                                     "speaker": [u.speaker for u in chunk], "text": [u.text for u in chunk],
                                     "context": [u.context for u in chunk]}, schema=schema), path)
            files.append(path)
    return files


def ray_suggest(ws: Workspace, inputs: Sequence[str], out: Path, *, model: str | None = None,
                group: str | None = None, top_k: int | None = None, fmt: str = "csv", chunk_size: int = CHUNK,
                address: str | None = None, actors: int = 2, cpus_per_actor: float | None = None,
                progress: Callable[[int], None] | None = None, precision: str | None = None) -> StreamResult:
    """What :func:`.streaming.stream_suggest` writes, computed by ``actors`` Ray actors of
    ``cpus_per_actor`` CPUs each (default: 1, or an equal share of the cluster's CPUs less the
    :data:`READ_CPUS` that reading takes, whichever is smaller)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown suggestions format {fmt!r}", hint="use csv, jsonl or parquet")
    if not streamable(inputs):
        raise InputError("--engine ray reads CSV, JSONL or Parquet files only",
                         hint="give transcripts and workspace groups to the local engine")
    ray = import_ray()
    name = model or ws.default_model()
    folder = model_folder(ws, name)
    # (a missing model stops here with the local engine's one line) the actors have no store:
    # who coded the model's training segments goes to them with the model
    coders = model_coders(ws, name, load_model(ws, name))
    seg_config = ws.segmentation()
    precision = ws.suggest_precision(precision)  # resolved here: every actor embeds as the local engine would
    codable = sorted(c.path for c in ws.store.codebook().codable())
    with tempfile.TemporaryDirectory(prefix="autocode-ray-") as tmp:
        parts = write_units((u for item in inputs for u in file_units(Path(item), seg_config,
                                                                      group if len(inputs) == 1 else None, chunk_size)),
                            Path(tmp, "units"))
        if not parts:
            raise InputError("no codable segments in the input", hint="moderator turns are not coded; check the file")
        started = connect(ray, address)
        try:
            cpus = ray.cluster_resources().get("CPU", 0)
            if cpus_per_actor is None:
                cpus_per_actor = max(0.1, min(1.0, (cpus - READ_CPUS) / actors))
            if actors * cpus_per_actor + READ_CPUS > cpus:
                raise InputError(f"{actors} actors of {cpus_per_actor:g} CPUs leave less than the {READ_CPUS:g} CPU "
                                 f"that reading the input needs of the cluster's {cpus:g}",
                                 hint="use fewer --actors or a smaller --cpus-per-actor")
            return _run(ray, parts, out, model_files(folder), str(ws.embedding_cache), codable, top_k, fmt,
                        chunk_size, actors, cpus_per_actor, progress, coders, precision)
        finally:
            if started:
                ray.shutdown()


def _run(ray: Any, parts: list[Path], out: Path, files: dict[str, bytes], cache: str, codable: list[str],
         top_k: int | None, fmt: str, chunk_size: int, actors: int, cpus_per_actor: float,
         progress: Callable[[int], None] | None, coders: dict[str, Any] | None = None,
         precision: str = "fp32") -> StreamResult:
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False  # the CLI shows its own
    ds = read_units(ray, parts).map_batches(
        Suggester, fn_constructor_kwargs={"files": [ray.put(files)], "cache": cache, "codable": codable,
                                          "top_k": top_k, "fmt": fmt, "coders": [ray.put(coders or {})],
                                          "precision": precision},
        batch_size=chunk_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=cpus_per_actor)
    with RowWriter(out, fmt, output_columns(fmt)) as writer:
        for batch in ds.iter_batches(batch_size=chunk_size, batch_format="numpy"):
            rows = [json.loads(r) for r in batch["row"]]
            writer.write(rows)
            if progress:
                progress(len(rows))
        writer.commit()
    return StreamResult(writer.count, out)
