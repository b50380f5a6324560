"""The garbage collector: expired, deleted and abandoned files, their chunks, and orphans.

``sweep.py`` holds a pass's steps as plain functions over ``fleet.py``'s ``Fleet``;
``collecting.py`` collects one chunk and closes the race with an upload re-using it;
``missing.py`` finds replicas a node is listed for but no longer holds; ``worker.py`` is
the Service that runs the steps pass by pass, ``main.py`` the process (``filefleet gc``)
with ``/healthz`` and ``/stats``.
"""
