"""Machinery that exists only for speed: each piece does what a plainer path would (named
in README.md beside what it buys, measured), with fewer copies, allocations, page-cache
passes or event-loop trips. Nothing here decides anything about files, chunks or nodes.
"""
