"""The garbage collector: expired, deleted and abandoned files, their chunks, and orphans.

``sweep.py`` holds the steps as plain functions, ``worker.py`` the Service that runs them
pass by pass, ``main.py`` the process (``filefleet gc``) with ``/healthz`` and ``/stats``.
"""
