"""The store of a workspace: documents, segments, codebook, codings with provenance, and a team's
accounts and assignments.

It lives on SQLite (one file, ``annotations/autocode.sqlite3``, WAL mode, foreign keys on) or on
PostgreSQL, chosen by a database URL (:func:`database_url`). SQLAlchemy Core carries the queries to
either; the SQL is written once, in the subset both dialects share (``ON CONFLICT``, ``RETURNING``,
``"end"`` quoted). The schema is migrated by Alembic (``migrations/``) when a store is opened.
Every write that comes from one import or one answer is one transaction (``with store.transaction():``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, CursorResult, Row

from ..codebook import Code, Codebook, CodeGroup
from ..errors import InputError
from ..records import (
    HUMAN_SOURCES,
    SOURCES,
    Coder,
    CodeSet,
    Coding,
    Document,
    NewSegment,
    Segment,
    Selection,
    coder_kind,
)
from .schema import BASELINE, HEAD, MIGRATIONS, REVISIONS, SCHEMA_VERSION, statements

#: An account's role on a team server: an owner imports, trains, assigns and sees agreement; a coder codes.
ROLES = ("owner", "coder")
MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def database_url(target: str | Path) -> str:
    """A database URL for ``target``: a URL as given (``postgresql://...``, ``sqlite:///...``), a
    file path as a SQLite URL. ``postgresql://`` means the psycopg (3) driver."""
    text_ = str(target)
    if "://" not in text_:
        return f"sqlite:///{Path(text_).resolve()}"
    if text_.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text_.split("://", 1)[1]
    return text_


def shown_url(url: str) -> str:
    """The URL with its password masked, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<database URL>"


@lru_cache(maxsize=1024)
def _statement(sql: str) -> sa.TextClause:
    """``?`` placeholders as named binds (``:p0``, ``:p1``, ...), which SQLAlchemy renders in each
    driver's own style. No query here has a ``?`` or ``:`` inside a literal."""
    count = iter(range(10_000))
    return sa.text(re.sub(r"\?", lambda _: f":p{next(count)}", sql))


def _params(args: Sequence[Any]) -> dict[str, Any]:
    """Parameters by bind name; flags as 0/1 (the schema keeps them in INTEGER columns, which
    PostgreSQL will not fill from a boolean)."""
    return {f"p{i}": int(a) if isinstance(a, bool) else a for i, a in enumerate(args)}


class Store:
    """A workspace's store. Use :meth:`open`; writes go through :meth:`transaction`."""

    def __init__(self, target: str | Path, *, timeout: float = 30) -> None:
        self.url = database_url(target)
        self.timeout = timeout
        engine_url = sa.engine.make_url(self.url)
        self.dialect = engine_url.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise InputError(f"unsupported database {shown_url(self.url)!r}",
                             hint="use a SQLite file or a postgresql:// URL")
        #: what messages name: the SQLite file, or the URL without its password
        self.path: Path | str = Path(engine_url.database or "") if self.dialect == "sqlite" else shown_url(self.url)
        if self.dialect == "sqlite":
            self._engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool,
                                            connect_args={"check_same_thread": False, "timeout": timeout})
            sa.event.listen(self._engine, "connect", _sqlite_connect)
        else:
            self._engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool,
                                            connect_args={"connect_timeout": 10})
        try:
            # autocommit at the driver: transaction() says where each one begins and ends, as
            # BEGIN IMMEDIATE on SQLite (so that two writers queue instead of failing half-way)
            self._conn: Connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except sa.exc.OperationalError as exc:
            raise InputError(f"cannot open the database {shown_url(self.url)}: {_reason(exc)}",
                             hint="check the database URL, that the server runs and that the database exists") from None
        if self.dialect == "postgresql":
            self._conn.exec_driver_sql(f"SET lock_timeout = '{int(timeout * 1000)}ms'")
        self._depth = 0

    @classmethod
    def open(cls, target: str | Path, *, create: bool = False, timeout: float = 30) -> Store:
        url = database_url(target)
        if url.startswith("sqlite:///") and not create:
            path = Path(url[len("sqlite:///"):])
            if not path.exists():
                raise InputError("no autocode store here", file=path, hint="run `autocode init` first, or pass --workspace")
        store = cls(url, timeout=timeout)
        store.migrate()
        return store

    @staticmethod
    def holds_store(target: str | Path) -> bool:
        """Whether the database at ``target`` already holds an autocode store (a missing SQLite
        file does not)."""
        url = database_url(target)
        if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
            return False
        store = Store(url)
        try:
            return bool({"meta", "alembic_version"} & set(store.tables()))
        finally:
            store.close()

    @staticmethod
    def shown(target: str | Path) -> str:
        """``target`` as messages name it (a URL's password masked)."""
        return shown_url(database_url(target))

    def close(self) -> None:
        self._conn.close()
        self._engine.dispose()

    # ---------------------------------------------------------------- queries
    def _x(self, sql: str, args: Sequence[Any] = ()) -> CursorResult:
        """Run one statement with ``?`` parameters."""
        return self._conn.execute(_statement(sql), _params(args))

    def _xmany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters."""
        batch = [_params(r) for r in rows]
        if batch:
            self._conn.execute(_statement(sql), batch)

    # ---------------------------------------------------------------- schema
    def tables(self) -> list[str]:
        return sorted(sa.inspect(self._conn).get_table_names())

    def revision(self) -> str | None:
        """The store's Alembic revision (None before Alembic: see :meth:`schema_version`)."""
        if "alembic_version" not in self.tables():
            return None
        return self._x("SELECT version_num FROM alembic_version").scalar()

    def schema_version(self) -> int:
        """The hand-written schema version of a store made before Alembic (0: none)."""
        if "meta" not in self.tables():
            return 0
        row = self._x("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> None:
        """Bring the store to :data:`~autocode.store.schema.HEAD`: a store from before Alembic
        through its old SQLite scripts to the baseline, then Alembic's revisions."""
        revision = self.revision()
        if revision == HEAD:
            return
        if revision is not None and revision not in REVISIONS:
            raise InputError(f"store schema revision {revision} is newer than this autocode ({HEAD})",
                             file=self.path, hint="upgrade autocode")

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = self._conn
        with self.transaction():
            if revision is None and self.schema_version():
                version = self.schema_version()
                if version > SCHEMA_VERSION:
                    raise InputError(f"store schema version {version} is newer than this autocode",
                                     file=self.path, hint="upgrade autocode")
                for step in range(version, SCHEMA_VERSION):
                    for statement in statements(MIGRATIONS[step]):
                        self._conn.exec_driver_sql(statement)
                self._x("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
                command.stamp(config, BASELINE)
            command.upgrade(config, HEAD)

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All-or-nothing: the block's writes land together, or none do. Nests."""
        if self._depth == 0:
            try:
                self._conn.exec_driver_sql("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
            except sa.exc.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                raise InputError(f"the workspace is busy: another autocode has been writing to it for over "
                                 f"{self.timeout:g} s", file=self.path,
                                 hint="let it finish (or close it), then run the command again") from None
        self._depth += 1
        try:
            yield self
        except BaseException as exc:
            self._depth -= 1
            if self._depth == 0:
                self._conn.exec_driver_sql("ROLLBACK")
                if isinstance(exc, sa.exc.OperationalError) and "lock timeout" in str(exc):  # PostgreSQL's
                    raise InputError(f"the workspace is busy: another autocode has been writing to it for over "
                                     f"{self.timeout:g} s", file=self.path,
                                     hint="let it finish (or close it), then run the command again") from None
            raise
        else:
            self._depth -= 1
            if self._depth == 0:
                self._conn.exec_driver_sql("COMMIT")

    # ---------------------------------------------------------------- codebook
    def codebook(self) -> Codebook:
        name = self.meta("codebook_name") or "codebook"
        book = Codebook(name=name)
        for g in self._x("SELECT * FROM code_groups ORDER BY position"):
            book.groups.append(CodeGroup(g.name, g.description, bool(g.exclusive), json.loads(g.levels)))
        for c in self._x("SELECT * FROM codes ORDER BY position"):
            book.codes[c.path] = Code(
                name=c.name, path=c.path, group=c.grp, parent=c.parent_path, codable=bool(c.codable),
                description=c.description, color=c.color, attrs=json.loads(c.attrs), guid=c.guid,
            )
        return book

    def set_codebook(self, book: Codebook) -> dict[str, list[str]]:
        """Merge ``book`` into the stored codebook: new groups and codes are added, existing ones
        updated (description, colour, codable). Codes are never deleted (codings refer to them).
        Returns {"added": [...], "updated": [...]}."""
        report: dict[str, list[str]] = {"added": [], "updated": []}
        with self.transaction():
            if not self.meta("codebook_name"):
                self.set_meta("codebook_name", book.name)
            known_groups = {r[0] for r in self._x("SELECT name FROM code_groups")}
            for g in book.groups:
                if g.name in known_groups:
                    self._x("UPDATE code_groups SET description=?, exclusive=?, levels=? WHERE name=?",
                                    (g.description, int(g.exclusive), json.dumps(g.levels), g.name))
                else:
                    pos = self._x("SELECT COUNT(*) FROM code_groups").fetchone()[0]
                    self._x("INSERT INTO code_groups VALUES (?, ?, ?, ?, ?)",
                                    (g.name, g.description, int(g.exclusive), json.dumps(g.levels), pos))
            existing = {r.path: r for r in self._x("SELECT * FROM codes")}
            for c in book:
                values = (c.codable, c.description, c.color, json.dumps(c.attrs, ensure_ascii=False), c.guid)
                if c.path in existing:
                    old = existing[c.path]
                    if (bool(old.codable), old.description, old.color, old.attrs, old.guid) != (
                        c.codable, c.description, c.color, values[3], c.guid or old.guid):
                        self._x(
                            "UPDATE codes SET codable=?, description=?, color=?, attrs=?, guid=COALESCE(?, guid) WHERE path=?",
                            (*values, c.path))
                        report["updated"].append(c.path)
                else:
                    pos = self._x("SELECT COUNT(*) FROM codes").fetchone()[0]
                    self._x(
                        "INSERT INTO codes (path, name, grp, parent_path, codable, description, color, attrs, guid, position)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (c.path, c.name, c.group, c.parent, *values, pos))
                    report["added"].append(c.path)
        return report

    def mark_codes_imported(self, paths: Iterable[str]) -> None:
        """Record that these codes came from an import (a project or a codebook file): an export
        writes them even while no one has used them."""
        with self.transaction():
            self._xmany("UPDATE codes SET imported=1 WHERE path=?", [(p,) for p in paths])

    def imported_codes(self) -> set[str]:
        """Paths of the codes that came from an import (see :meth:`mark_codes_imported`)."""
        return {r[0] for r in self._x("SELECT path FROM codes WHERE imported=1")}

    def codes_in_use(self) -> set[str]:
        """Paths of the codes some coding or kept selection carries."""
        return {r[0] for r in self._x(
            "SELECT path FROM codes WHERE id IN (SELECT code_id FROM codings UNION SELECT code_id FROM selections)")}

    def codebook_in_use(self) -> bool:
        """Whether anything refers to the codebook yet: a coding, a selection, a code set, a code
        from an import. A codebook nothing refers to can be replaced whole."""
        q = "SELECT EXISTS (SELECT 1 FROM {})"
        return any(self._x(q.format(t)).fetchone()[0]
                   for t in ("codings", "selections", "code_sets", "codes WHERE imported=1"))

    def replace_codebook(self, book: Codebook) -> None:
        """Put ``book`` in place of the stored codebook, which nothing may refer to yet
        (see :meth:`codebook_in_use`); the codebook's name becomes ``book.name``."""
        with self.transaction():
            if self.codebook_in_use():
                raise InputError("the workspace's codebook is in use and cannot be replaced",
                                 hint="merge the new codes with `autocode codebook import` instead")
            self._x("DELETE FROM codes")
            self._x("DELETE FROM code_groups")
            self._x("DELETE FROM meta WHERE key='codebook_name'")
            self.set_codebook(book)

    # ---------------------------------------------------------------- code sets
    def add_code_sets(self, sets: Iterable[CodeSet]) -> None:
        """Keep code sets (REFI ``<Set>``): a set already stored under the same guid takes the new
        name and description and gains the members it lacked."""
        with self.transaction():
            for cs in sets:
                row = self._x("SELECT id FROM code_sets WHERE guid=?", (cs.guid,)).fetchone()
                if row is None:
                    pos = self._x("SELECT COUNT(*) FROM code_sets").fetchone()[0]
                    set_id = self._x(
                        "INSERT INTO code_sets (guid, name, description, position) VALUES (?, ?, ?, ?) RETURNING id",
                        (cs.guid, cs.name, cs.description, pos)).scalar_one()
                else:
                    set_id = row[0]
                    self._x("UPDATE code_sets SET name=?, description=? WHERE id=?",
                                     (cs.name, cs.description, set_id))
                for path in cs.codes:
                    pos = self._x("SELECT COUNT(*) FROM code_set_members WHERE set_id=?", (set_id,)).fetchone()[0]
                    self._x("INSERT INTO code_set_members (set_id, code_id, position) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                                     (set_id, self.code_id(path), pos))

    def code_sets(self) -> list[CodeSet]:
        """The kept code sets in the order they were first imported, members in their order."""
        members: dict[int, list[str]] = {}
        for r in self._x("SELECT m.set_id, k.path FROM code_set_members m JOIN codes k ON k.id = m.code_id"
                                  " ORDER BY m.set_id, m.position"):
            members.setdefault(r[0], []).append(r[1])
        return [CodeSet(r.guid, r.name, members.get(r.id, []), r.description)
                for r in self._x("SELECT * FROM code_sets ORDER BY position")]

    def code_id(self, path: str) -> int:
        row = self._x("SELECT id FROM codes WHERE path=?", (path,)).fetchone()
        if row is None:
            raise InputError(f"code {path!r} is not in the workspace codebook", hint="add it with `autocode codebook import`")
        return row[0]

    # ---------------------------------------------------------------- meta
    def meta(self, key: str) -> str | None:
        row = self._x("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._x("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                    (key, value))

    # ---------------------------------------------------------------- coders
    def coder_id(self, name: str, kind: str = "human") -> int:
        row = self._x("SELECT id FROM coders WHERE name=?", (name,)).fetchone()
        if row:
            return row[0]
        with self.transaction():
            return self._x("INSERT INTO coders (name, kind) VALUES (?, ?) RETURNING id", (name, kind)).scalar_one()

    def coders(self) -> list[dict[str, Any]]:
        return [r._asdict() for r in self._x("SELECT name, kind FROM coders ORDER BY id")]

    def add_user(self, name: str, kind: str = "human", *, guid: str | None = None, refi_id: str | None = None) -> None:
        """Make sure ``name`` is a coder and give them the identity a QDA suite gave them (its User's
        GUID and short id); an identity they already have is kept."""
        with self.transaction():
            coder_id = self.coder_id(name, kind)
            self._x("UPDATE coders SET guid=COALESCE(guid, ?), refi_id=COALESCE(refi_id, ?) WHERE id=?",
                             (guid, refi_id, coder_id))

    def users(self) -> list[Coder]:
        """Every coder in the order they joined, with their QDA-suite identity where known."""
        return [Coder(r.name, r.kind, r.guid, r.refi_id)
                for r in self._x("SELECT name, kind, guid, refi_id FROM coders ORDER BY id")]

    def require_coders(self, names: Iterable[str]) -> None:
        """Raise the one clear error when a name is not a coder of this workspace."""
        known = [c["name"] for c in self.coders()]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InputError(f"no coder named {unknown[0]!r} in the workspace",
                             hint=f"known coders: {', '.join(known) or 'none yet: import coded segments'}")

    # ---------------------------------------------------------------- accounts and logins (a team server)
    def add_account(self, name: str, role: str, password_hash: str) -> None:
        """Give coder ``name`` (made if new) an account with ``role`` (owner or coder)."""
        if role not in ROLES:
            raise InputError(f"unknown role {role!r}", hint=f"use one of {', '.join(ROLES)}")
        with self.transaction():
            if self.account(name) is not None:
                raise InputError(f"{name!r} already has an account",
                                 hint="pick another name, or change theirs with `autocode users password|role|enable`")
            self._x("INSERT INTO accounts (coder_id, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                             (self.coder_id(name), role, password_hash, now()))

    def account(self, name: str) -> dict[str, Any] | None:
        """``{name, role, password_hash, disabled, created_at}`` of ``name``'s account, or None."""
        row = self._x("SELECT u.name, a.role, a.password_hash, a.disabled, a.created_at FROM accounts a"
                               " JOIN coders u ON u.id = a.coder_id WHERE u.name=?", (name,)).fetchone()
        return None if row is None else {**row._asdict(), "disabled": bool(row.disabled)}

    def accounts(self) -> list[dict[str, Any]]:
        """Every account (without its password hash), in the order they were made."""
        return [{**r._asdict(), "disabled": bool(r.disabled)} for r in self._x(
            "SELECT u.name, a.role, a.disabled, a.created_at FROM accounts a JOIN coders u ON u.id = a.coder_id"
            " ORDER BY a.created_at, u.id")]

    def update_account(self, name: str, *, role: str | None = None, password_hash: str | None = None,
                       disabled: bool | None = None) -> None:
        """Change an account; disabling it also ends its logins."""
        if self.account(name) is None:
            raise InputError(f"no account named {name!r}", hint="add it with `autocode users add`")
        if role is not None and role not in ROLES:
            raise InputError(f"unknown role {role!r}", hint=f"use one of {', '.join(ROLES)}")
        with self.transaction():
            coder_id = self.coder_id(name)
            self._x("UPDATE accounts SET role=COALESCE(?, role), password_hash=COALESCE(?, password_hash),"
                             " disabled=COALESCE(?, disabled) WHERE coder_id=?",
                             (role, password_hash, None if disabled is None else int(disabled), coder_id))
            if disabled:
                self._x("DELETE FROM logins WHERE coder_id=?", (coder_id,))

    def add_login(self, token_hash: str, name: str, csrf: str, expires_at: str) -> None:
        """A login session of ``name``: keyed by a hash of the cookie's token, with its CSRF token."""
        with self.transaction():
            self._x("INSERT INTO logins (token_hash, coder_id, csrf, created_at, expires_at)"
                             " VALUES (?, ?, ?, ?, ?)", (token_hash, self.coder_id(name), csrf, now(), expires_at))

    def login(self, token_hash: str) -> dict[str, Any] | None:
        """``{name, role, disabled, csrf, created_at, expires_at}`` of the login with that token hash, or None."""
        row = self._x(
            "SELECT u.name, a.role, a.disabled, l.csrf, l.created_at, l.expires_at FROM logins l"
            " JOIN coders u ON u.id = l.coder_id JOIN accounts a ON a.coder_id = l.coder_id WHERE l.token_hash=?",
            (token_hash,)).fetchone()
        return None if row is None else {**row._asdict(), "disabled": bool(row.disabled)}

    def end_login(self, token_hash: str) -> None:
        with self.transaction():
            self._x("DELETE FROM logins WHERE token_hash=?", (token_hash,))

    def end_expired_logins(self, before: str) -> int:
        """Remove logins that expired before ``before`` (an ISO time); returns how many."""
        with self.transaction():
            return self._x("DELETE FROM logins WHERE expires_at < ?", (before,)).rowcount

    # ---------------------------------------------------------------- assignments (a team server)
    def claim_slot(self, segment_id: int, coder: str, needed: int, expires_at: str) -> bool:
        """Reserve segment ``segment_id`` for ``coder`` until ``expires_at``: one of its ``needed``
        slots (``needed`` is fixed by the first claim; 2 on the double-coding overlap). Leases that
        ran out before now are free again; a coder's own lease is renewed. False when every slot
        is held or done, or another server took the last one first."""
        try:
            with self.transaction():
                coder_id = self.coder_id(coder)
                self._x("DELETE FROM assignments WHERE segment_id=? AND done=0 AND expires_at < ?", (segment_id, now()))
                rows = self._x("SELECT slot, coder_id, done, needed FROM assignments WHERE segment_id=?",
                               (segment_id,)).fetchall()
                mine = [r for r in rows if r.coder_id == coder_id]
                if mine:
                    if mine[0].done:
                        return False
                    self._x("UPDATE assignments SET expires_at=? WHERE segment_id=? AND coder_id=?",
                            (expires_at, segment_id, coder_id))
                    return True
                needed = rows[0].needed if rows else needed
                free = sorted(set(range(needed)) - {r.slot for r in rows})
                if not free:
                    return False
                self._x("INSERT INTO assignments (segment_id, slot, coder_id, leased_at, expires_at, needed)"
                        " VALUES (?, ?, ?, ?, ?, ?)", (segment_id, free[0], coder_id, now(), expires_at, needed))
                return True
        except sa.exc.IntegrityError:  # another server took that slot in the meantime
            return False

    def release_slot(self, segment_id: int, coder: str) -> None:
        """Give up ``coder``'s lease on a segment they have not answered (a skip)."""
        with self.transaction():
            self._x("DELETE FROM assignments WHERE segment_id=? AND done=0 AND coder_id=(SELECT id FROM coders"
                    " WHERE name=?)", (segment_id, coder))

    def finish_slot(self, segment_id: int, coder: str, done: bool = True, expires_at: str | None = None) -> None:
        """Mark ``coder``'s slot on a segment answered (``done``), or open again until
        ``expires_at`` (an undo). Call it in the answer's own transaction."""
        with self.transaction():
            self._x("UPDATE assignments SET done=?, expires_at=? WHERE segment_id=? AND coder_id=(SELECT id FROM"
                    " coders WHERE name=?)", (done, None if done else expires_at, segment_id, coder))

    def slots(self, segment_id: int | None = None) -> dict[int, list[dict[str, Any]]]:
        """Segment id -> its slots in order: ``{slot, coder, done, expires_at, needed}`` (of one
        segment, when given)."""
        out: dict[int, list[dict[str, Any]]] = {}
        sql, args = _where("SELECT a.segment_id, a.slot, u.name AS coder, a.done, a.expires_at, a.needed FROM assignments a"
                           " JOIN coders u ON u.id = a.coder_id", "a.segment_id", segment_id)
        for r in self._x(sql + " ORDER BY a.segment_id, a.slot", args):
            out.setdefault(r.segment_id, []).append(
                {"slot": r.slot, "coder": r.coder, "done": bool(r.done), "expires_at": r.expires_at, "needed": r.needed})
        return out

    def overlap(self) -> dict[str, float]:
        """The double-coding share the owner set: '' for the whole project, else per group."""
        return {r.scope: float(r.share) for r in self._x("SELECT scope, share FROM overlap ORDER BY scope")}

    def set_overlap(self, share: float, group: str | None = None) -> None:
        """Double code ``share`` (0-1) of the segments not yet assigned, in ``group`` or everywhere."""
        if not 0 <= share <= 1:
            raise InputError(f"overlap {share!r} is not a share between 0 and 1", hint="give e.g. 0.2 or 20%")
        if group is not None:
            self.document(group)  # raises with the known names
        with self.transaction():
            self._x("INSERT INTO overlap (scope, share) VALUES (?, ?) ON CONFLICT (scope) DO UPDATE SET"
                    " share=excluded.share", (group or "", float(share)))

    # ---------------------------------------------------------------- documents and segments
    def document_names(self) -> list[str]:
        return [r[0] for r in self._x("SELECT name FROM documents ORDER BY id")]

    def has_document(self, name: str) -> bool:
        return self._x("SELECT 1 FROM documents WHERE name=?", (name,)).fetchone() is not None

    def document(self, name: str) -> Document:
        """The document called ``name``; an unknown name raises with the known ones."""
        found = self.documents(name)
        if not found:
            known = ", ".join(self.document_names()[:8]) or "none yet"
            raise InputError(f"no group or document named {name!r} in the workspace", hint=f"known: {known}")
        return found[0]

    def documents(self, name: str | None = None) -> list[Document]:
        """Every document in import order (or the one called ``name``, as a list)."""
        sql = "SELECT id, name, text, format, source_path, guid FROM documents"
        rows = self._x(sql + " WHERE name=?", (name,)) if name is not None else self._x(sql + " ORDER BY id")
        return [Document(r.id, r.name, r.text, r.format, r.source_path, r.guid) for r in rows]

    def add_document(self, name: str, text: str, fmt: str, source_path: str | None = None,
                     guid: str | None = None) -> int:
        """Store a document; its segments follow with :meth:`add_segments`. Returns its id."""
        with self.transaction():
            return self._x(
                "INSERT INTO documents (name, source_path, format, text, guid, imported_at) VALUES (?, ?, ?, ?, ?, ?)"
                " RETURNING id", (name, source_path, fmt, text, guid, now())).scalar_one()

    def add_segments(self, document_id: int, segments: Iterable[NewSegment]) -> list[int]:
        """Store a document's segments in order (positions 0, 1, ...), with their speakers; returns their ids."""
        speakers: dict[str, int] = {}
        ids: list[int] = []
        with self.transaction():
            for position, seg in enumerate(segments):
                speaker_id = None
                if seg.speaker is not None:
                    if seg.speaker not in speakers:
                        speakers[seg.speaker] = self._x(
                            "INSERT INTO speakers (document_id, name, role) VALUES (?, ?, ?) RETURNING id",
                            (document_id, seg.speaker, seg.role)).scalar_one()
                    speaker_id = speakers[seg.speaker]
                ids.append(self._x(
                    "INSERT INTO segments (document_id, ext_id, position, turn, speaker_id, text, start, \"end\", timestamp,"
                    " codable) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (document_id, seg.ext_id, position, seg.turn, speaker_id, seg.text, seg.start, seg.end,
                     seg.timestamp, int(seg.codable))).scalar_one())
        return ids

    def segments(self, *, document: str | None = None, codable_only: bool = False,
                 ids: Iterable[int] | None = None) -> list[Segment]:
        sql = ("SELECT s.*, d.name AS document, sp.name AS speaker, sp.role AS role FROM segments s "
               "JOIN documents d ON d.id = s.document_id LEFT JOIN speakers sp ON sp.id = s.speaker_id WHERE 1=1")
        args: list[Any] = []
        if document is not None:
            sql += " AND d.name = ?"
            args.append(document)
        if codable_only:
            sql += " AND s.codable = 1"
        if ids is not None:
            id_list = list(ids)
            sql += f" AND s.id IN ({','.join('?' * len(id_list))})"
            args.extend(id_list)
        sql += " ORDER BY s.document_id, s.position"
        return [
            Segment(r.id, r.document, r.ext_id, r.position, r.turn, r.speaker, r.role,
                    r.text, r.start, r.end, bool(r.codable), r.timestamp)
            for r in self._x(sql, args)
        ]

    # ---------------------------------------------------------------- codings
    def codings(self, coder: str | None = None, *, sources: Iterable[str] | None = None) -> dict[int, set[str]]:
        """segment id -> set of code paths applied by ``coder`` (all coders when None)."""
        sql = ("SELECT c.segment_id, k.path FROM codings c JOIN codes k ON k.id = c.code_id "
               "JOIN coders u ON u.id = c.coder_id WHERE 1=1")
        args: list[Any] = []
        if coder is not None:
            sql += " AND u.name = ?"
            args.append(coder)
        if sources is not None:
            src = list(sources)
            sql += f" AND c.source IN ({','.join('?' * len(src))})"
            args.extend(src)
        out: dict[int, set[str]] = {}
        for seg, path in self._x(sql, args):
            out.setdefault(seg, set()).add(path)
        return out

    def seen(self, coder: str) -> set[int]:
        """Segments that ``coder`` has coded (with or without a code)."""
        return {r[0] for r in self._x(
            "SELECT s.segment_id FROM seen s JOIN coders u ON u.id = s.coder_id WHERE u.name = ?", (coder,))}

    def human_codings(self, segment_ids: Iterable[int], coders: Iterable[str] | None = None
                      ) -> dict[int, tuple[str, dict[str, set[str]]]]:
        """segment id -> (its text, {human coder who saw it: the code paths they applied}),
        for the given segments (a coder who applied no code has an empty set); ``coders``
        limits it to those coders."""
        ids = list(dict.fromkeys(int(i) for i in segment_ids))
        wanted = None if coders is None else list(coders)
        out: dict[int, tuple[str, dict[str, set[str]]]] = {}
        if wanted == []:
            return out
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            sql = ("SELECT x.segment_id, s.text, u.name, k.path FROM seen x JOIN segments s ON s.id = x.segment_id"
                   " JOIN coders u ON u.id = x.coder_id AND u.kind = 'human'"
                   " LEFT JOIN codings c ON c.segment_id = x.segment_id AND c.coder_id = x.coder_id"
                   f" AND c.source IN ({','.join('?' * len(HUMAN_SOURCES))})"
                   " LEFT JOIN codes k ON k.id = c.code_id"
                   f" WHERE x.segment_id IN ({','.join('?' * len(chunk))})")
            args: list[Any] = [*HUMAN_SOURCES, *chunk]
            if wanted is not None:
                sql += f" AND u.name IN ({','.join('?' * len(wanted))})"
                args.extend(wanted)
            for seg, text, name, path in self._x(sql + " ORDER BY x.segment_id, u.id", args):
                codes = out.setdefault(seg, (text, {}))[1].setdefault(name, set())
                if path is not None:
                    codes.add(path)
        return out

    def set_codes(self, segment_id: int, coder: str, paths: Iterable[str], *, source: str = "human",
                  kind: str = "human", model_version: str | None = None,
                  probabilities: dict[str, float] | None = None, session_id: int | None = None,
                  replace: bool = True, notes: dict[str, str] | None = None) -> None:
        """Record that ``coder`` coded segment ``segment_id`` with ``paths`` (possibly none).

        With ``replace`` the coder's earlier codes on that segment are replaced. One transaction.
        """
        if source not in SOURCES:
            raise InputError(f"unknown coding source {source!r}", hint=f"use one of {', '.join(SOURCES)}")
        with self.transaction():
            coder_id = self.coder_id(coder, kind)
            stamp = now()
            # re-saving a coding as it was (same code, source and model version) keeps its date
            first = {r[0]: r[1] for r in self._x(
                "SELECT code_id, created_at FROM codings WHERE segment_id=? AND coder_id=? AND source=?"
                " AND COALESCE(model_version, '') = COALESCE(?, '')", (segment_id, coder_id, source, model_version))}
            if replace:
                self._x("DELETE FROM codings WHERE segment_id=? AND coder_id=?", (segment_id, coder_id))
            self._x("INSERT INTO seen (segment_id, coder_id, created_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (segment_id, coder_id) DO UPDATE SET created_at=excluded.created_at",
                            (segment_id, coder_id, stamp))
            for path in paths:
                prob = (probabilities or {}).get(path)
                code_id = self.code_id(path)
                self._x(
                    "INSERT INTO codings (segment_id, code_id, coder_id, source, model_version, probability,"
                    " session_id, created_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (segment_id, code_id, coder_id) DO UPDATE SET source=excluded.source,"
                    " model_version=excluded.model_version, probability=excluded.probability,"
                    " session_id=excluded.session_id, created_at=excluded.created_at, note=excluded.note",
                    (segment_id, code_id, coder_id, source, model_version, prob, session_id, first.get(code_id, stamp),
                     (notes or {}).get(path)))

    def forget(self, segment_id: int, coder: str) -> None:
        """Remove ``coder``'s coding of a segment (used by undo)."""
        with self.transaction():
            row = self._x("SELECT id FROM coders WHERE name=?", (coder,)).fetchone()
            if row:
                self._x("DELETE FROM codings WHERE segment_id=? AND coder_id=?", (segment_id, row[0]))
                self._x("DELETE FROM seen WHERE segment_id=? AND coder_id=?", (segment_id, row[0]))

    def coding_rows(self, coder: str | None = None) -> list[dict[str, Any]]:
        """Every coding with its provenance, for export and audit."""
        sql = ("SELECT d.name AS document, s.ext_id, s.position, s.id AS segment_id, k.path AS code, u.name AS coder,"
               " u.kind, c.source, c.model_version, c.probability, c.session_id, c.created_at FROM codings c"
               " JOIN segments s ON s.id = c.segment_id JOIN documents d ON d.id = s.document_id"
               " JOIN codes k ON k.id = c.code_id JOIN coders u ON u.id = c.coder_id")
        sql, args = _where(sql, "u.name", coder or None)
        return [r._asdict() for r in self._x(sql + " ORDER BY s.document_id, s.position, k.position", args)]

    def coded_spans(self, document: str | None = None) -> list[Coding]:
        """Every segment-level coding with its segment's span and its provenance, in document order."""
        sql = ("SELECT c.id, s.id AS segment_id, d.name AS document, s.start, s.\"end\", k.path, u.name AS coder,"
               " c.created_at, c.source, c.probability, c.model_version, c.note"
               " FROM codings c JOIN segments s ON s.id = c.segment_id JOIN documents d ON d.id = s.document_id"
               " JOIN codes k ON k.id = c.code_id JOIN coders u ON u.id = c.coder_id")
        sql, args = _where(sql, "d.name", document)
        return [Coding(r.id, r.segment_id, r.document, r.start, r.end, r.path, r.coder,
                       r.created_at, r.source, r.probability, r.model_version, r.note)
                for r in self._x(sql + " ORDER BY s.document_id, s.position, k.position, u.id", args)]

    def documents_seen(self, coder: str) -> set[str]:
        """Documents in which ``coder`` has coded at least one segment (with or without a code)."""
        return {r[0] for r in self._x(
            "SELECT DISTINCT d.name FROM seen x JOIN segments s ON s.id = x.segment_id JOIN documents d"
            " ON d.id = s.document_id JOIN coders u ON u.id = x.coder_id WHERE u.name = ?", (coder,))}

    # ---------------------------------------------------------------- selections
    def add_selection(self, document_id: int, code: str, coder: str, start: int, end: int, *,
                      guid: str | None = None, name: str | None = None, created_at: str | None = None,
                      coding_guid: str | None = None, description: str | None = None, creator: str | None = None,
                      selected_at: str | None = None, modifier: str | None = None,
                      modified_at: str | None = None) -> None:
        """Keep an exact coded span (a REFI-QDA selection) of ``coder`` with ``code``: the Coding's
        guid and date, and the span's own name, description, maker and modifier with their dates."""
        with self.transaction():
            people = [self.coder_id(p, coder_kind(p)) if p is not None else None for p in (coder, creator, modifier)]
            self._x(
                "INSERT INTO selections (document_id, code_id, coder_id, start, \"end\", guid, name, created_at,"
                " coding_guid, description, creator_id, selected_at, modifier_id, modified_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (document_id, self.code_id(code), people[0], start, end, guid, name, created_at, coding_guid,
                 description, people[1], selected_at, people[2], modified_at))

    def selections(self, document: str | None = None) -> list[Selection]:
        """The exact selections kept from imports, in the order they were imported."""
        sql = ("SELECT s.id, d.name AS document, k.path, u.name AS coder, s.start, s.\"end\", s.guid, s.name, s.created_at,"
               " s.coding_guid, s.description, c.name AS creator, s.selected_at, m.name AS modifier, s.modified_at"
               " FROM selections s JOIN documents d ON d.id = s.document_id JOIN codes k ON k.id = s.code_id"
               " JOIN coders u ON u.id = s.coder_id LEFT JOIN coders c ON c.id = s.creator_id"
               " LEFT JOIN coders m ON m.id = s.modifier_id")
        sql, args = _where(sql, "d.name", document)
        return [Selection(r.id, r.document, r.path, r.coder, r.start, r.end, r.guid, r.name,
                          r.created_at, r.coding_guid, r.description, r.creator, r.selected_at,
                          r.modifier, r.modified_at) for r in self._x(sql + " ORDER BY s.id", args)]

    # ---------------------------------------------------------------- rich text of sources
    def set_rich_text(self, document_id: int, path: str, data: bytes) -> None:
        """Keep a document's rich text as it came (a REFI source's richTextPath member, NVivo's .docx)."""
        with self.transaction():
            self._x("INSERT INTO rich_texts (document_id, path, data) VALUES (?, ?, ?)"
                    " ON CONFLICT (document_id) DO UPDATE SET path=excluded.path, data=excluded.data",
                             (document_id, path, data))

    def rich_texts(self) -> dict[str, tuple[str, bytes]]:
        """Document name -> (member name, bytes) of every kept rich text."""
        return {r[0]: (r[1], bytes(r[2])) for r in self._x(
            "SELECT d.name, t.path, t.data FROM rich_texts t JOIN documents d ON d.id = t.document_id")}

    # ---------------------------------------------------------------- sessions and answers
    def start_session(self, coder: str, strategy: str, params: dict[str, Any]) -> int:
        """A new annotation session of ``coder``; returns its id."""
        with self.transaction():
            return self._x(
                "INSERT INTO sessions (coder_id, strategy, params, started_at) VALUES (?, ?, ?, ?) RETURNING id",
                (self.coder_id(coder), strategy, json.dumps(params, sort_keys=True), now())).scalar_one()

    def unended_session(self, coder: str, strategy: str, params: dict[str, Any]) -> int | None:
        """The newest session of ``coder`` with this strategy and these params that was never
        ended (its process was killed), or None."""
        row = self._x(
            "SELECT s.id FROM sessions s JOIN coders u ON u.id = s.coder_id WHERE u.name=? AND s.strategy=?"
            " AND s.params=? AND s.ended_at IS NULL ORDER BY s.id DESC LIMIT 1",
            (coder, strategy, json.dumps(params, sort_keys=True))).fetchone()
        return row[0] if row else None

    def end_session(self, session_id: int) -> None:
        with self.transaction():
            self._x("UPDATE sessions SET ended_at=? WHERE id=?", (now(), session_id))

    def session_info(self, session_id: int) -> dict[str, Any]:
        """A session's row: ``id``, ``coder``, ``strategy``, ``params`` (a dict), ``started_at``, ``ended_at``."""
        row = self._x("SELECT s.*, u.name AS coder FROM sessions s JOIN coders u ON u.id = s.coder_id"
                               " WHERE s.id=?", (session_id,)).fetchone()
        if row is None:
            raise InputError(f"no annotation session {session_id}")
        return {"id": row.id, "coder": row.coder, "strategy": row.strategy, "params": json.loads(row.params),
                "started_at": row.started_at, "ended_at": row.ended_at}

    def record_answer(self, session_id: int, segment_id: int, coder: str, action: str, *,
                      codes: Iterable[str] = (), suggested: Iterable[str] = (),
                      probabilities: dict[str, float] | None = None, memo: str | None = None,
                      model_version: str | None = None, answer_id: str | None = None,
                      random_check: bool = False) -> None:
        """Commit one answer of a session, in one transaction: the answer itself and, unless it is
        a skip, the coder's codes on the segment (source accepted/corrected, with the suggestion's
        probabilities and model version) and their memo. ``answer_id``: the id the client made for
        the answer (unique; see :meth:`answer_by_client_id`). ``random_check``: the segment was
        drawn at random, not chosen by the strategy (see :meth:`random_checks`)."""
        if action not in ("accept", "correct", "skip"):
            raise InputError(f"unknown answer action {action!r}", hint="use accept, correct or skip")
        codes = sorted(codes)
        with self.transaction():
            if action != "skip":
                self.set_codes(segment_id, coder, codes, source="accepted" if action == "accept" else "corrected",
                               model_version=model_version, probabilities=probabilities, session_id=session_id)
                if memo:
                    self._x(
                        "INSERT INTO memos (segment_id, coder_id, text, created_at) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (segment_id, coder_id) DO UPDATE SET text=excluded.text, created_at=excluded.created_at",
                        (segment_id, self.coder_id(coder), memo, now()))
            self._x(
                "INSERT INTO answers (session_id, segment_id, action, suggested, answered, memo, model_version,"
                " created_at, answer_id, random_check) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, segment_id, action, json.dumps(sorted(suggested)), json.dumps(codes), memo,
                 model_version, now(), answer_id, int(bool(random_check))))

    def answer_by_client_id(self, answer_id: str) -> dict[str, Any] | None:
        """The answer recorded under the client's ``answer_id`` (any session), or None."""
        row = self._x("SELECT * FROM answers WHERE answer_id=?", (answer_id,)).fetchone()
        return None if row is None else _answer(row)

    def undo_answer(self, session_id: int, coder: str, segments: Collection[int] | None = None) -> dict[str, Any] | None:
        """Take back ``coder``'s last answer that stands, in any of their sessions (so undo reaches
        back across a restart), among ``segments`` if given: it is marked undone, an ``undo``
        answer is recorded in ``session_id``, and the coder's codes and memo on that segment are
        removed. Returns the undone answer (``segment_id``, ``action``, ``answered``), or None."""
        sql = ("SELECT a.* FROM answers a JOIN sessions s ON s.id = a.session_id JOIN coders u ON u.id = s.coder_id"
               " WHERE u.name=? AND a.undone=0 AND a.action != 'undo'")
        args: list[Any] = [coder]
        if segments is not None:
            # a temporary table, not a long IN (...) list: SQLite caps the number of parameters
            self._x("CREATE TEMP TABLE IF NOT EXISTS undo_scope (segment_id INTEGER PRIMARY KEY)")
            self._x("DELETE FROM undo_scope")
            self._xmany("INSERT INTO undo_scope VALUES (?)", [(int(s),) for s in segments])
            sql += " AND a.segment_id IN (SELECT segment_id FROM undo_scope)"
        row = self._x(sql + " ORDER BY a.id DESC LIMIT 1", args).fetchone()
        if row is None:
            return None
        with self.transaction():
            self._x("UPDATE answers SET undone=1 WHERE id=?", (row.id,))
            self._x("INSERT INTO answers (session_id, segment_id, action, model_version, created_at)"
                             " VALUES (?, ?, 'undo', ?, ?)", (session_id, row.segment_id, row.model_version, now()))
            if row.action != "skip":
                self.forget(row.segment_id, coder)
                self._x("DELETE FROM memos WHERE segment_id=? AND coder_id=?",
                                 (row.segment_id, self.coder_id(coder)))
        return _answer(row)

    def client_answer_ids(self) -> set[str]:
        """Every answer id a client gave (the page's, or a script's), over all sessions."""
        return {r[0] for r in self._x("SELECT answer_id FROM answers WHERE answer_id IS NOT NULL")}

    def answers(self, session_id: int) -> list[dict[str, Any]]:
        """Every answer of a session in order, undo answers included (``suggested``/``answered`` as lists)."""
        return [_answer(r) for r in self._x("SELECT * FROM answers WHERE session_id=? ORDER BY id",
                                                     (session_id,))]

    def session_tally(self, session_id: int) -> tuple[int, set[int]]:
        """(answers that stand, segments skipped) in a session. A skip counts while it stands and
        no later answer was given to its segment (an answer taken back still supersedes it)."""
        answered = self._x("SELECT COUNT(*) FROM answers WHERE session_id=? AND undone=0"
                                    " AND action IN ('accept', 'correct')", (session_id,)).fetchone()[0]
        skipped = {r[0] for r in self._x(
            "SELECT a.segment_id FROM answers a WHERE a.session_id=? AND a.action='skip' AND a.undone=0"
            " AND NOT EXISTS (SELECT 1 FROM answers b WHERE b.session_id=a.session_id AND b.segment_id=a.segment_id"
            " AND b.id > a.id AND b.action != 'undo')", (session_id,))}
        return answered, skipped

    def coder_answers(self, coder: str) -> list[dict[str, Any]]:
        """``coder``'s session answers that stand (accepted or corrected, not taken back), over all
        their sessions, oldest first: ``segment_id``, ``suggested`` (what the model ticked before
        the answer), ``answered``, ``random_check`` (the segment was drawn at random), ``created_at``."""
        rows = self._x(
            "SELECT a.segment_id, a.suggested, a.answered, a.random_check, a.created_at FROM answers a"
            " JOIN sessions s ON s.id = a.session_id JOIN coders u ON u.id = s.coder_id"
            " WHERE u.name=? AND a.undone=0 AND a.action IN ('accept', 'correct') ORDER BY a.id", (coder,))
        return [{"segment_id": r.segment_id, "suggested": json.loads(r.suggested), "answered": json.loads(r.answered),
                 "random_check": bool(r.random_check), "created_at": r.created_at} for r in rows]

    def coder_tally(self, coder: str) -> int:
        """How many of ``coder``'s session answers (accepted or corrected) stand, over all their sessions."""
        return self._x(
            "SELECT COUNT(*) FROM answers a JOIN sessions s ON s.id = a.session_id JOIN coders u ON u.id = s.coder_id"
            " WHERE u.name=? AND a.undone=0 AND a.action IN ('accept', 'correct')", (coder,)).fetchone()[0]

    def memo(self, segment_id: int, coder: str) -> str | None:
        row = self._x("SELECT m.text FROM memos m JOIN coders u ON u.id = m.coder_id"
                               " WHERE m.segment_id=? AND u.name=?", (segment_id, coder)).fetchone()
        return row[0] if row else None

    # ---------------------------------------------------------------- stats
    def stats(self) -> dict[str, Any]:
        q = self._x
        per_coder = {r.name: {"kind": r.kind, "coded_segments": r.n} for r in q(
            "SELECT u.name, u.kind, COUNT(s.segment_id) AS n FROM coders u LEFT JOIN seen s ON s.coder_id = u.id"
            " GROUP BY u.id ORDER BY u.id")}
        book = self.codebook()
        counts: dict[str, dict[str, int]] = {}
        for coder in per_coder:
            direct: dict[str, set[int]] = {}
            for seg, paths in self.codings(coder).items():
                for p in book.close_upward(paths):
                    direct.setdefault(p, set()).add(seg)
            counts[coder] = {p: len(direct.get(p, ())) for p in book.codes}
        return {
            "documents": q("SELECT COUNT(*) FROM documents").fetchone()[0],
            "segments": q("SELECT COUNT(*) FROM segments").fetchone()[0],
            "codable_segments": q("SELECT COUNT(*) FROM segments WHERE codable=1").fetchone()[0],
            "per_document": [r._asdict() for r in q(
                "SELECT d.name, d.format, COUNT(s.id) AS segments, SUM(s.codable) AS codable FROM documents d"
                " LEFT JOIN segments s ON s.document_id = d.id GROUP BY d.id ORDER BY d.id")],
            "coders": per_coder,
            "code_counts": counts,
        }

    def counts(self) -> dict[str, int]:
        """Rows per table: what an import or an answer added (tests, audits)."""
        return {t: self._x(f"SELECT COUNT(*) FROM {t}").scalar_one() for t in self.tables()}

    def journal_mode(self) -> str | None:
        """SQLite's journal mode (``wal``); None on PostgreSQL."""
        return self._x("PRAGMA journal_mode").scalar() if self.dialect == "sqlite" else None


def _where(sql: str, column: str, value: Any) -> tuple[str, tuple]:
    """``sql`` filtered to ``column = value`` when a value is given (else unfiltered)."""
    return (sql + f" WHERE {column} = ?", (value,)) if value is not None else (sql, ())


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Each SQLite connection: the driver's own transaction handling off (transaction() says
    BEGIN IMMEDIATE), foreign keys on, WAL, full fsync on commit."""
    dbapi_connection.isolation_level = None
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=FULL"):
        dbapi_connection.execute(f"PRAGMA {pragma}")


def _reason(exc: Exception) -> str:
    """The first line of a driver's error, without SQLAlchemy's wrapping."""
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(getattr(exc, "orig", exc)).strip() else type(exc).__name__


def _answer(row: Row) -> dict[str, Any]:
    """An answers row as a dict, ``suggested``/``answered`` as lists and ``undone`` as a bool."""
    d = row._asdict()
    d["suggested"], d["answered"], d["undone"] = json.loads(d["suggested"]), json.loads(d["answered"]), bool(d["undone"])
    return d
