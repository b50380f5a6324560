"""The metadata store: files, their chunks, chunk locations and nodes.

``base.MetadataStore`` is the interface the controller calls; ``sql.SqlStore`` implements
it over SQLite (embedded default) and PostgreSQL with SQLAlchemy Core (``sql.open_store``;
``changes.py``: one record locked for one transaction). The store reads and writes; what
may change is decided by the controller's rules (``filefleet/controller/``).
``migrations/`` holds the Alembic revisions applied when the controller starts. Import
from the module that defines a name: this package imports none of them, so its modules
never import each other in a circle through it.
"""
