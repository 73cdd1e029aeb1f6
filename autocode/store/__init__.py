"""The only SQL in autocode: the workspace's store (schema, migrations, one :class:`Store`),
the embedding cache, and the read-only reader of a Taguette project's own database.

Every query lives in this package; the app layer, the CLI and the web page call
:class:`Store` methods and get :mod:`autocode.records` back.
"""

from .embedding_cache import EmbeddingCache
from .schema import MIGRATIONS, SCHEMA_VERSION
from .store import Store, now
from .taguette_db import read_taguette_sqlite

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "EmbeddingCache", "Store", "now", "read_taguette_sqlite"]
