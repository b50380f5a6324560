"""The public frontend: the upload page, ``POST /upload``, ``GET /download/{id}``."""
