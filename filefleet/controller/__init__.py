"""The controller: the only service that touches the metadata store.

``api.py`` holds the routes (parse, call, answer); ``files.py``, ``chunks.py`` and
``nodes.py`` the domain calls they make; ``params.py`` parses query strings; ``main.py``
opens the store, migrates it and serves.
"""
