"""The file node: chunk bytes on its own disk (chunkstore), served over HTTP (api), kept
known to the controller (ping) and checked for rot (scrub)."""
