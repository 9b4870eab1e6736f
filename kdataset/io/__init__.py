"""Reading manifests and storage, and the packed cache (no Keras)."""
