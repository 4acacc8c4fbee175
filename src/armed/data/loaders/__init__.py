"""One module per benchmark; each registers a :class:`armed.data.loader.FileLoader` in ``DATASETS``."""
