"""The core: arguments, order, the stream of batches, batch assembly, digests (no Keras)."""
