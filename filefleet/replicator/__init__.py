"""The replicator: brings every chunk of a live file to R replicas on distinct active
nodes, from chunk-replicate events (``worker``) and from a periodic repair pass
(``repair``); both use the one copy step in ``copy``."""
