"""Pure logic shared by every service: ids, units, hashing, chunking, placement, models, errors.

Nothing in this package does I/O, so all of it is unit-tested without a server.
"""
