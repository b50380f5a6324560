"""Chunk-replicate events: one small interface, Redis Streams and RabbitMQ behind it."""
