"""The metadata store: files, their chunks, chunk locations and nodes.

``base.MetadataStore`` is the interface the controller calls; ``sql.SqlStore`` implements
it over SQLite (embedded default) and PostgreSQL with SQLAlchemy Core; ``migrations/``
holds the Alembic revisions applied when the controller starts.
"""

from filefleet.store.base import MetadataStore
from filefleet.store.sql import SqlStore, open_store

__all__ = ["MetadataStore", "SqlStore", "open_store"]
