"""Loading samples: loaders, image decoding and resizing, the C readers, threads and processes (no Keras)."""
