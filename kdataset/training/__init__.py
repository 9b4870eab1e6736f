"""The Keras face: `ManifestDataset`, `DataGenerator`, resuming, how Keras drives a dataset."""
