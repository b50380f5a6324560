"""The controller: the only service that touches the metadata store.

``app.py`` puts the route tables (``api.py``, ``ui.py``) on the app; ``main.py`` opens the
store, migrates it and serves. The controller's rules each have a module named after
them: ``file_states.py`` (a file's states and its one update), ``appending.py`` (the
append merge), ``downloads.py`` (taking a download), ``collecting_mark.py`` (the GC's
mark), ``chunks.py`` (which replicas count), ``lifecycle.py`` (draining and forgetting
nodes); ``params.py`` parses query strings. The store (``filefleet/store/``) only reads
and writes what they decide.
"""
