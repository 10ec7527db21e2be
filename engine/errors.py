"""Errors the engine raises for bad input: one clear message, shown to the user as it is."""


class EngineError(Exception):
    """A failure the user can act on; str(error) is the whole message."""


class ImageError(EngineError):
    """An image file that cannot be read or used."""


class ModelError(EngineError):
    """A model that cannot be found, loaded or used as asked."""


class PromptError(EngineError):
    """A prompt or an embeddings file the model cannot take."""


class CheckpointError(EngineError):
    """A training checkpoint that is missing, corrupt, or from another run."""


class DataError(EngineError):
    """A training data set that is missing or unreadable."""
