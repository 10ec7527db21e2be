"""The prompts of `reproduce part-a`, per model family: the one place they are defined.

- `if`: the course's prompts (DeepFloyd IF reads them through T5 or the course's embeddings file).
- `digits`: the class-conditioned digit model's digits.
- `emoji`: the emoji cascade (issue 12). Its vocabulary is the emoji names, so the course's IF
  prompts are refused by it; every prompt here is an emoji's own name (checked against the
  prepared data's labels). PROVISIONAL: the anagram and hybrid pairs are to be chosen by
  measurement (illusion scores with the emoji classifier) once stage I is trained; until then
  they are pairs of simple, distinct shapes and colours, with the course's upside-down view.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PartAPrompts:
    sample: tuple[str, ...]  # A-0 (three prompts at 10/20/40 steps)
    noise: tuple[str, ...]  # and A-1.6 (five)
    img2img: tuple[str, ...]  # the prompt for each test image, in order
    anagrams: tuple[tuple[str, str, str], ...]  # (upright, through the view, view)
    hybrids: tuple[tuple[str, str], ...]  # (low-pass / far, high-pass / close)
    status: str  # where the prompts come from, shown on the index page

    def all(self) -> list[str]:
        wanted = [*self.sample, *self.noise, *self.img2img]
        wanted += [p for a, b, _ in self.anagrams for p in (a, b)]
        wanted += [p for pair in self.hybrids for p in pair]
        return list(dict.fromkeys(wanted))


PART_A: dict[str, PartAPrompts] = {
    "if": PartAPrompts(
        sample=("an oil painting of a snowy mountain village", "a man wearing a hat",
                "a rocket ship"),
        noise=("a high quality photo",) * 5,
        img2img=("a rocket ship", "a pencil"),
        anagrams=(("an oil painting of an old man",
                   "an oil painting of people around a campfire", "flip"),
                  ("a photo of a dog", "a photo of a man", "flip"),
                  ("an oil painting of a snowy mountain village",
                   "a photo of a hipster barista", "flip")),
        hybrids=(("a lithograph of a skull", "a lithograph of waterfalls"),),
        status="the course's prompts",
    ),
    "digits": PartAPrompts(
        sample=("1", "4", "7"),
        noise=("0", "1", "2", "3", "4"),
        img2img=("8",),
        anagrams=(("6", "9", "rot180"), ("2", "5", "rot180"), ("3", "8", "mirror")),
        hybrids=(("0", "1"),),
        status="digits; the anagram pairs measured on the digit model (issue 14)",
    ),
    "emoji": PartAPrompts(
        sample=("grinning face", "red apple", "rocket"),
        noise=("cat face", "snowman", "sun with face", "evergreen tree", "ghost"),
        img2img=("rocket", "pencil"),
        anagrams=(("cat face", "dog face", "flip"), ("snowman", "fire", "flip"),
                  ("crescent moon", "ghost", "flip")),
        hybrids=(("grinning face", "snowman"),),
        status="emoji names; the anagram and hybrid pairs are provisional, to be chosen by "
               "measurement once the cascade is trained",
    ),
}
