"""The one table of the modes: what each needs, shows and can do.

Everything that asks "which modes ..." (the job checks, the panel's rows and labels, the window's
illusion viewer, sweeps, the history strip's labels) looks it up here. No Qt at all.
"""

from __future__ import annotations

from dataclasses import dataclass

# the panel's optional rows (widgets/modes_panel.py shows exactly these per mode)
PANEL_ROWS = frozenset({"prompt2", "view", "sigma", "illusion", "strength", "live"})
# what tells results apart in the history strip: the prompt, both prompts, the strength, view
KEY_PARTS = frozenset({"prompt", "prompts", "strength", "view"})


@dataclass(frozen=True)
class Mode:
    """One mode. `prompts` is how many prompts it takes at least, `max_prompts` at most (3-4
    view anagrams, triple hybrids); `needs_prompt`: a named prompt is required (the command
    line refuses the model's default); `rows`: its optional rows in the panel; `key_parts`:
    what its history label shows; `small_note`: a hint added for models of at most
    `small_size` pixels."""

    key: str
    label: str
    hint: str
    needs_image: bool = False
    needs_mask: bool = False
    needs_prompt: bool = False
    prompts: int = 1
    max_prompts: int = 1
    rows: frozenset[str] = frozenset()
    prompt_labels: tuple[str, str] = ("Prompt", "Prompt 2")
    live: bool = False
    illusion: bool = False
    key_parts: tuple[str, ...] = ("prompt",)
    small_note: str = ""
    small_size: int = 0

    @property
    def two_prompts(self) -> bool:
        return self.prompts >= 2

    @property
    def uses_strength(self) -> bool:
        """It starts from the input image noised by the strength (its default i_start)."""
        return "strength" in self.rows

    @property
    def command(self) -> str:
        """The command line's subcommand for this mode."""
        return "sample" if self.key == "sample" else "edit"


_ILLUSION_ROWS = frozenset({"prompt2", "illusion"})

MODES: tuple[Mode, ...] = (
    Mode("sample", "Sample", "New images from pure noise, for the prompt."),
    Mode("sdedit", "SDEdit",
         "Noises your drawing part of the way, then the model denoises it into something it "
         "believes, pulled towards the Prompt box (the course's SDEdit when it holds the "
         "model's default prompt).",
         needs_image=True, rows=frozenset({"strength", "live"}), live=True,
         key_parts=("strength",)),
    Mode("inpaint", "Inpaint",
         "Paint a mask (M): only the masked part is generated, the rest is kept.",
         needs_image=True, needs_mask=True),
    Mode("img2img", "Image-to-image",
         "SDEdit pulled towards a prompt you name.",
         needs_image=True, needs_prompt=True, rows=frozenset({"strength"}),
         prompt_labels=("Pull towards", "Prompt 2"), key_parts=("prompt", "strength"),
         small_note=" On digits: draw a 1, ask for a 7.", small_size=28),  # not on emoji
    Mode("anagram", "Visual anagram",
         "One image that reads as one prompt upright and as another through a view.",
         needs_prompt=True, prompts=2, max_prompts=4, rows=_ILLUSION_ROWS | {"view"},
         prompt_labels=("Upright", "Through view"), illusion=True,
         key_parts=("prompts", "view"),
         small_note=" Where a model has been measured, Suggested lists the pairs and views "
                    "that work on it; on digits, pixel permutations fail (docs/benchmarks.md).",
         small_size=28),  # the digit models' (the list itself is app/session/suggested.py)
    Mode("hybrid", "Hybrid", "One image that is one prompt from afar and another up close.",
         needs_prompt=True, prompts=2, max_prompts=3, rows=_ILLUSION_ROWS | {"sigma"},
         prompt_labels=("Far (low-pass)", "Close (high-pass)"), illusion=True,
         key_parts=("prompts",),
         small_note=" At this model's size it does not work: measured, every 0/1 hybrid still "
                    "reads as the far digit up close (docs/benchmarks.md).",
         small_size=28),  # measured on the 28 px digit models only (the 32 px emoji cascade's
    # hybrids are measured by benchmarks/bench_emoji_illusions.py): no digit claim for them
)
BY_KEY: dict[str, Mode] = {m.key: m for m in MODES}
KEYS: tuple[str, ...] = tuple(BY_KEY)
DEFAULT = "sample"
IMAGE_DEFAULT = "sdedit"  # what "apply and edit further" and sweeps switch an imageless mode to


def find_mode(key: object) -> Mode | None:
    """The mode named `key`, or None."""
    return BY_KEY.get(key) if isinstance(key, str) else None


def mode_of(key: object) -> Mode:
    """The mode named `key`; KeyError with the choices if there is none."""
    found = find_mode(key)
    if found is None:
        raise KeyError(f"unknown mode {key!r}; choose from {', '.join(KEYS)}")
    return found


def is_mode(key: object) -> bool:
    return find_mode(key) is not None


def keys_where(**wanted: object) -> tuple[str, ...]:
    """The keys of the modes whose attributes equal `wanted`: keys_where(needs_image=True)."""
    return tuple(m.key for m in MODES
                 if all(getattr(m, name) == value for name, value in wanted.items()))


def is_illusion(parameters: dict) -> bool:
    """A result's parameters are an illusion's (the viewer can show it)."""
    found = find_mode(parameters.get("mode"))
    return found is not None and found.illusion


def needs_image(key: object) -> bool:
    found = find_mode(key)
    return found is not None and found.needs_image
