"""Errors the engine raises for bad input: one clear message, shown to the user as it is."""

import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class EngineError(Exception):
    """A failure the user can act on; str(error) is the whole message."""


class ImageError(EngineError):
    """An image file that cannot be read or used."""


MASK_EMPTY_IN_APP = "The mask is empty"  # how the app's refusal starts (the window clears it)


class EmptyMaskError(ImageError):
    """A mask with nothing to generate. str() is the command line's wording (white in the
    --mask file); `in_app()` names the app's way (the Mask tool, M). `name`: the mask file,
    given when the mask is empty only inside the square that goes to the model."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        where = "" if name is None else f" inside the square that goes to the model ({name})"
        super().__init__(f"the mask is empty{where}: paint white where new content should be "
                         "generated")

    def in_app(self) -> str:
        where = "" if self.name is None else " inside the region (the square the model sees)"
        return (f"{MASK_EMPTY_IN_APP}{where}: paint where new content should be generated with "
                "the Mask tool (M)")


class ModelError(EngineError):
    """A model that cannot be found, loaded or used as asked."""


class PromptError(EngineError):
    """A prompt or an embeddings file the model cannot take."""


class CheckpointError(EngineError):
    """A training checkpoint that is missing, corrupt, or from another run."""


class DataError(EngineError):
    """A training data set that is missing or unreadable."""


def short_reason(error: BaseException, limit: int = 200) -> str:
    """An exception as one clean line for a message: terminal colour codes removed, the first
    line with text, cut at a word before `limit` characters; the type's name if it says
    nothing."""
    text = _ANSI.sub("", str(error))
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    if not line:
        return type(error).__name__
    if len(line) > limit:
        line = line[:limit].rsplit(" ", 1)[0] + " …"
    return line
