"""filefleet: share files by URL; chunks replicated over a fleet of storage nodes."""

__version__ = "0.1.0"
