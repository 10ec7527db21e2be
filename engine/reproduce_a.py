"""`reproduce part-a`: every Part A figure of the write-up, with an index page.

Three setups run the same figures, their prompts in engine/prompt_sets.py. DeepFloyd IF (64 px,
T = 1000) uses the course's prompts from an embeddings file (--prompts) and test photos
(scikit-image's when installed, else the bundled drawn scenes), in colour. The emoji cascade (an
IF folder with a vocabulary: 32 px, stage II to 64) uses the same photos and emoji names. A
class-conditioned digit model (28 px, T = 300) uses digits as prompts, MNIST
test digits as test images and hand-drawn digit sketches; its timesteps are the course's scaled
to T = 300 (75/150/225). `quick` runs few steps and few images, for CI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from engine import edits, examples, images, loops
from engine.errors import EngineError, ModelError, PromptError
from engine.filters import gaussian_blur
from engine.models.base import DiffusionModel, Upscaler
from engine.models.registry import load_model
from engine.prompt_sets import PART_A
from engine.training.reproduce import Figure, write_index_page
from engine.views import VIEWS

COURSE_I_STARTS = (1, 3, 5, 7, 10, 20)
SEED = 180


@dataclass
class Setup:
    """What the figures are made of, for one model family."""

    kind: str  # "if" or "digits"
    sample_prompts: list[str]
    forward_ts: list[int]
    noise_prompts: list[str]  # and A-1.6 (five each)
    tests: list[tuple[str, Image.Image]]  # test images
    sketches: list[tuple[str, Image.Image]]  # a web-like image, then sketches
    img2img: list[tuple[str, Image.Image, str]]  # (name, image, prompt)
    anagrams: list[tuple[str, str, str]]  # (upright, through the view, view)
    hybrids: list[tuple[str, str]]  # (low-pass, high-pass)
    blur: tuple[int, float] = (5, 2.0)  # kernel and σ
    notes: list[str] = field(default_factory=list)

    def prompts(self, default: str, uncond: str) -> list[str]:
        wanted = [default, uncond, *self.sample_prompts, *self.noise_prompts]
        wanted += [p for _, _, p in self.img2img]
        wanted += [p for a, b, _ in self.anagrams for p in (a, b)]
        wanted += [p for pair in self.hybrids for p in pair]
        return list(dict.fromkeys(wanted))


def photo_setup(kind: str, quick: bool) -> Setup:
    """IF and the emoji cascade: colour photos and drawn sketches, the kind's prompt set."""
    prompts = PART_A[kind]
    photos = examples.course_photos(2 if quick else 4)
    return Setup(
        kind=kind,
        sample_prompts=list(prompts.sample),
        forward_ts=[250, 500, 750],
        noise_prompts=list(prompts.noise),
        tests=photos[:3],
        sketches=[("web image", examples.example("photo-city"))]
        + [(n, examples.example(f"sketch-{n}")) for n in ("house", "tree", "face")],
        img2img=[(name, img, prompt)
                 for (name, img), prompt in zip(photos, prompts.img2img)],
        anagrams=list(prompts.anagrams),
        hybrids=list(prompts.hybrids),
        blur=(5, 2.0),
        notes=[f"Prompts: {prompts.status}."],
    )


def if_setup(quick: bool) -> Setup:
    return photo_setup("if", quick)


def emoji_setup(quick: bool) -> Setup:
    return photo_setup("emoji", quick)


def mnist_digits(count: int) -> list[tuple[int, Image.Image]]:
    """(label, image) of MNIST test digits; the bundled sketches if MNIST is not installed."""
    try:
        from engine.training.data import load_mnist

        test = load_mnist("test")
        return [(int(test.labels[i]), Image.fromarray(test.images[i])) for i in range(count)]
    except Exception:  # noqa: BLE001 - no data set: fall back to drawings
        names = ("2", "4", "7", "5")
        return [(int(n), examples.sketch_digit(n)) for n in names[:count]]


def first_digit(label: int, fallback: Image.Image) -> Image.Image:
    try:
        from engine.training.data import load_mnist

        test = load_mnist("test")
        index = next(i for i, v in enumerate(test.labels) if int(v) == label)
        return Image.fromarray(test.images[index])
    except Exception:  # noqa: BLE001
        return fallback


def digits_setup(quick: bool) -> Setup:
    digits = mnist_digits(3)
    prompts = PART_A["digits"]
    return Setup(
        kind="digits",
        sample_prompts=list(prompts.sample),
        forward_ts=[75, 150, 225],
        noise_prompts=list(prompts.noise),
        tests=[(f"test digit {label}", img) for label, img in digits[:2 if quick else 3]],
        sketches=[("typed 5 (web-like)", examples.example("digit-typed-5"))]
        + [(f"sketch {d}", examples.example(f"digit-sketch-{d}")) for d in ("2", "4", "7")],
        img2img=[("test digit 3", first_digit(3, examples.sketch_digit("2")),
                  prompts.img2img[0])],
        anagrams=list(prompts.anagrams),
        hybrids=list(prompts.hybrids),
        blur=(5, 1.0),
        notes=[f"Prompts: {prompts.status}."],
    )


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Run:
    model: DiffusionModel
    setup: Setup
    out: Path
    quick: bool
    steps: int | None  # None: the course's strided schedule
    upscaler: Upscaler | None

    @property
    def timesteps(self) -> list[int]:
        return self.model.schedule.timesteps(self.steps)

    def index(self, course_index: int) -> int:
        """A course i_start (on the default schedule) on this run's schedule."""
        n = len(self.timesteps)
        full = len(self.model.schedule.default_timesteps())
        if n == full:
            return min(course_index, n - 2)
        return min(n - 2, max(1 if course_index else 0, round(course_index * (n - 1) / (full - 1))))

    def i_starts(self) -> list[int]:
        return list(dict.fromkeys(self.index(i) for i in COURSE_I_STARTS))

    def tensor(self, picture: Image.Image) -> torch.Tensor:
        m = self.model
        return images.prepare_image(picture, m.image_size, m.channels, m.data_range)

    def pictures(self, x: torch.Tensor) -> list[Image.Image]:
        scale = max(1, 128 // x.shape[-1])
        out = []
        for item in x.detach().float().cpu():
            picture = images.to_pil(item, self.model.data_range)
            if scale > 1:
                picture = picture.resize((picture.width * scale, picture.height * scale),
                                         Image.Resampling.NEAREST)
            out.append(picture)
        return out

    def save(self, name: str, pictures: Sequence[Image.Image], columns: int,
             labels: Sequence[str], section: str, caption: str) -> Figure:
        grid = images.make_grid(list(pictures), columns, labels=[_short(t) for t in labels])
        images.save_png(grid, self.out / name, {"app": "diffusion-canvas", "section": section,
                                                "model": self.model.name, "quick": self.quick})
        return Figure(name, section, caption)


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def run_to_end(records) -> torch.Tensor:
    return loops.final(records).x_t


def cond_of(model: DiffusionModel, prompt: str) -> torch.Tensor | None:
    return edits.encode(model, [prompt])


# --- figures ------------------------------------------------------------------------------------


def sampling(run: Run) -> list[Figure]:
    """A-0: the sample prompts at 10, 20 and 40 steps, seed 180 (stage II where found)."""
    m, s = run.model, run.setup
    counts = [2, 3, 4] if run.quick else [10, 20, 40]
    rows, labels, finals = [], [], {}
    for steps in counts:
        x = run_to_end(edits.sample(m, s.sample_prompts, generator(SEED), steps=steps))
        finals[steps] = x
        rows += run.pictures(x)
        labels += [f"{steps} steps: {p}" for p in s.sample_prompts]
    made = [run.save("a0-sampling.png", rows, len(s.sample_prompts), labels, "A-0",
                     f"Samples at {', '.join(map(str, counts))} denoising steps (rows), seed "
                     f"{SEED}, CFG γ = {m.default_guidance:g}.")]
    if run.upscaler is not None:
        x = finals[counts[1]]
        up = run.upscaler.upscale(x, m.encode(s.sample_prompts), m.encode([m.unconditional_prompt]),
                                  generator(SEED), steps=3 if run.quick else None)
        factor = up.shape[-1] // x.shape[-1]
        made.append(run.save("a0-stage2.png", run.pictures(up), len(s.sample_prompts),
                             s.sample_prompts, "A-0", f"The {counts[1]}-step samples upscaled "
                             f"to {factor}x by stage II (noise level 250, CFG 4)."))
    return made


def forward_blur_onestep(run: Run, x0: torch.Tensor) -> list[Figure]:
    """A-1.1 forward process, A-1.2 blur baseline, A-1.3 one-step denoising."""
    m, s = run.model, run.setup
    ts = s.forward_ts
    noisy = torch.cat([r.x_t for r in loops.forward_process(x0, ts, m.schedule, generator(1))])
    labels_t = [f"t = {t}" for t in ts]
    made = [run.save("a1-1-forward.png", run.pictures(torch.cat([x0, noisy])), len(ts) + 1,
                     ["original", *labels_t], "A-1.1",
                     "Forward process x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε at "
                     f"t = {', '.join(map(str, ts))}.")]
    kernel, sigma = s.blur
    blurred = torch.cat([r.x0_hat for r in loops.blur_baseline(x0, ts, m.schedule, generator(1),
                                                                kernel, sigma)])
    made.append(run.save("a1-2-blur.png", run.pictures(torch.cat([noisy, blurred])), len(ts),
                         labels_t + [f"blurred, {t}" for t in labels_t], "A-1.2",
                         f"Classical denoising: Gaussian blur (kernel {kernel}, σ {sigma:g}) "
                         "of each noisy image."))
    estimate = loops.conditional(m, cond_of(m, m.default_prompt))
    clean = torch.cat([loops.one_step(estimate, noisy[i:i + 1], t, m.schedule).x0_hat
                       for i, t in enumerate(ts)])
    made.append(run.save("a1-3-one-step.png",
                         run.pictures(torch.cat([x0.expand_as(noisy), noisy, clean])), len(ts),
                         ["original"] * len(ts) + labels_t + [f"one-step, {t}" for t in labels_t],
                         "A-1.3", "One-step denoising x̂_0 = (x_t - sqrt(1 - ᾱ_t) ε) / sqrt(ᾱ_t) "
                         f"with the prompt {m.default_prompt!r} (no CFG)."))
    return made


def iterative(run: Run, x0: torch.Tensor) -> Figure:
    """A-1.4: from i_start 10, every 5th step, beside one-step and blur."""
    m = run.model
    ts, i_start = run.timesteps, run.index(10)
    every = 5 if not run.quick else 1
    x = loops.forward(x0, ts[i_start], m.schedule, generator(2))
    estimate = loops.conditional(m, cond_of(m, m.default_prompt))
    frames, labels = [x], [f"t = {ts[i_start]}"]
    for record in loops.iterative_denoise(estimate, x, ts, m.schedule, generator(3), i_start):
        if record.step % every == 0 or record.index == len(ts) - 1:
            frames.append(record.x_t)
            labels.append(f"t = {record.t}")
    result = frames[-1]
    one = loops.one_step(estimate, x, ts[i_start], m.schedule).x0_hat
    blurred = gaussian_blur(x, *run.setup.blur)
    columns = max(len(frames), 4)
    pad = [torch.ones_like(x0) * m.data_range[1]] * (columns - len(frames))
    row1 = torch.cat([*frames, *pad]) if pad else torch.cat(frames)
    row2 = torch.cat([x0, result, one, blurred])
    labels += [""] * len(pad) + ["original", "iterative", "one-step", "blurred"]
    return run.save("a1-4-iterative.png", run.pictures(torch.cat([row1, row2])), columns,
                    labels, "A-1.4", f"Iterative denoising from i_start = {i_start} "
                    f"(t = {ts[i_start]}): the start, then every {every} step(s); below: the "
                    "result beside one-step denoising and the blur baseline.")


def from_noise(run: Run) -> list[Figure]:
    """A-1.5 (no guidance) and A-1.6 (CFG) samples from pure noise."""
    m, prompts = run.model, run.setup.noise_prompts[: 2 if run.quick else 5]
    plain = run_to_end(edits.sample(m, prompts, generator(5), guidance=1.0, steps=run.steps))
    cfg = run_to_end(edits.sample(m, prompts, generator(6), steps=run.steps))
    gamma = m.default_guidance
    return [run.save("a1-5-samples.png", run.pictures(plain), len(prompts), prompts, "A-1.5",
                     f"Sampling from pure noise (i_start = 0) without guidance: {len(prompts)} "
                     "samples."),
            run.save("a1-6-cfg.png", run.pictures(cfg), len(prompts), prompts, "A-1.6",
                     f"Classifier-free guidance, γ = {gamma:g}, ε_u from the '' prompt: "
                     f"{len(prompts)} samples.")]


def sdedit_grid(run: Run, named: Sequence[tuple[str, Image.Image]], prompt: str, seed: int
                ) -> tuple[list[Image.Image], list[str], int]:
    """Rows: images; columns: each i_start, then the original. One batch per i_start."""
    m = run.model
    batch = torch.cat([run.tensor(img) for _, img in named])
    starts = run.i_starts()
    results = {i: run_to_end(edits.sdedit(m, batch, i, generator(seed + i), prompt,
                                          steps=run.steps)) for i in starts}
    pictures, labels = [], []
    for row, (name, _) in enumerate(named):
        pictures += run.pictures(torch.cat([results[i][row:row + 1] for i in starts]))
        pictures += run.pictures(batch[row:row + 1])
        labels += [f"i_start {i}" for i in starts] + [name]
    return pictures, labels, len(starts) + 1


def sdedit_figures(run: Run) -> list[Figure]:
    """A-1.7 on test images, A-1.7.1 on a web-like image and sketches, A-1.7.3 with prompts."""
    m, s = run.model, run.setup
    made = []
    pics, labels, cols = sdedit_grid(run, s.tests, m.default_prompt, 10)
    made.append(run.save("a1-7-sdedit.png", pics, cols, labels, "A-1.7",
                         f"SDEdit with {m.default_prompt!r} at i_start "
                         f"{', '.join(map(str, run.i_starts()))} (left to right), original "
                         "at the right."))
    pics, labels, cols = sdedit_grid(run, s.sketches, m.default_prompt, 20)
    made.append(run.save("a1-7-1-sketches.png", pics, cols, labels, "A-1.7.1",
                         "SDEdit on a web-like image (top row) and hand-drawn sketches."))
    pics, labels = [], []
    for k, (name, img, prompt) in enumerate(s.img2img):
        p, l, cols = sdedit_grid(run, [(f"{name} to {prompt}", img)], prompt, 30 + k)
        pics += p
        labels += l
    made.append(run.save("a1-7-3-img2img.png", pics, cols, labels, "A-1.7.3",
                         "Text-conditional image-to-image: "
                         + "; ".join(f"{n} toward {p!r}" for n, _, p in s.img2img) + "."))
    return made


def inpaint_masks(size: int, kind: str) -> list[torch.Tensor]:
    """A top-centre box (the course's campanile top) and a right half."""
    box = torch.zeros(1, 1, size, size)
    if kind != "digits":  # photos
        box[..., size // 8: size // 2, size // 3: 2 * size // 3] = 1
    else:
        box[..., size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    half = torch.zeros(1, 1, size, size)
    half[..., size // 2:] = 1
    return [box, half]


def inpainting(run: Run) -> Figure:
    """A-1.7.2: original, mask, the region to replace, the result, per test image."""
    m = run.model
    pictures, labels = [], []
    named = run.setup.tests[:2]
    for k, ((name, img), mask) in enumerate(zip(named, inpaint_masks(m.image_size,
                                                                      run.setup.kind))):
        x0 = run.tensor(img)
        out = run_to_end(edits.inpaint(m, x0, mask, generator(40 + k), steps=run.steps))
        lo, hi = m.data_range
        mask_img = lo + (hi - lo) * mask.expand_as(x0)
        hole = x0 * (1 - mask) + lo * mask
        pictures += run.pictures(torch.cat([x0, mask_img, hole, out]))
        labels += [name, "mask", "to replace", "inpainted"]
    return run.save("a1-7-2-inpaint.png", pictures, 4, labels, "A-1.7.2",
                    "Inpainting (RePaint-style): after every step the known region is set to "
                    "the original noised to t'; pasted exactly at the end.")


def anagrams(run: Run) -> list[Figure]:
    """A-1.8: each anagram upright and through its view (stage II with the same views)."""
    m = run.model
    pairs = run.setup.anagrams[: 2 if run.quick else 3]
    pictures, labels, upscaled, up_labels = [], [], [], []
    for k, (upright, other, view_name) in enumerate(pairs):
        views = [VIEWS["identity"], VIEWS[view_name]]
        x = run_to_end(edits.anagram(m, [upright, other], views, generator(50 + k),
                                     steps=run.steps))
        pictures += run.pictures(torch.cat([x, views[1].apply(x)]))
        labels += [upright, f"{view_name}: {other}"]
        if run.upscaler is not None:
            up = run.upscaler.upscale(x, m.encode([upright, other]),
                                      m.encode([m.unconditional_prompt]), generator(60 + k),
                                      steps=3 if run.quick else None, views=views)
            upscaled += run.pictures(torch.cat([up, views[1].apply(up)]))
            up_labels += [upright, f"{view_name}: {other}"]
    made = [run.save("a1-8-anagrams.png", pictures, 2, labels, "A-1.8",
                     "Visual anagrams ε = (ε_1(x) + view⁻¹(ε_2(view(x)))) / 2, each with CFG; "
                     "left as made, right through the view. The first pair is the course's.")]
    if upscaled:
        made.append(run.save("a1-8-stage2.png", upscaled, 2, up_labels, "A-1.8",
                             "The anagrams upscaled by stage II with the same views."))
    return made


def hybrids(run: Run) -> Figure:
    """A-1.9: each hybrid up close and from afar (shrunk)."""
    m = run.model
    pictures, labels = [], []
    count = 1 if run.quick else 2
    for k, (low, high) in enumerate(run.setup.hybrids):
        x = run_to_end(edits.hybrid(m, low, high, generator(70 + k), steps=run.steps,
                                    batch=count))
        for picture in run.pictures(x):
            far = picture.resize((picture.width // 4, picture.height // 4),
                                 Image.Resampling.LANCZOS)
            pictures += [picture, far]
            labels += [f"close: {high}", f"far: {low}"]
    return run.save("a1-9-hybrids.png", pictures, 2, labels, "A-1.9",
                    "Hybrid images ε = lowpass(ε_1) + highpass(ε_2) (kernel 33, σ 2 at 64 px, "
                    "scaled with size): up close the high-pass prompt, from afar (right, shrunk) "
                    "the low-pass one.")


# --- driver -------------------------------------------------------------------------------------


def setup_for(model: DiffusionModel, quick: bool) -> Setup:
    from engine.models.deepfloyd import IFStageOne

    if isinstance(model, IFStageOne):
        return emoji_setup(quick) if model.words else if_setup(quick)
    choices = model.prompt_choices() or []
    if model.channels == 1 and all(str(d) in choices for d in range(10)):
        return digits_setup(quick)
    raise EngineError(f"reproduce part-a needs DeepFloyd IF (with --prompts FILE.pth) or a "
                      f"class-conditioned digit model; {model.name} is neither")


def check_prompts(model: DiffusionModel, setup: Setup) -> None:
    if getattr(model, "words", None):
        check_words(model, setup)
    choices = model.prompt_choices()
    if choices is None:
        return
    missing = [p for p in setup.prompts(model.default_prompt, model.unconditional_prompt)
               if p not in choices]
    if missing:
        shown = ", ".join(repr(p) for p in missing)
        raise PromptError(f"reproduce part-a needs these prompts, which {model.name} lacks: "
                          f"{shown} (IF: the course's prompt_embeds_dict.pth has them all)")


def check_words(model: DiffusionModel, setup: Setup) -> None:
    """A model with a vocabulary takes every prompt of the set, or one PromptError names the
    words it lacks (the emoji prompt set names emoji of the full data set)."""
    problems = []
    for prompt in setup.prompts(model.default_prompt, model.unconditional_prompt):
        try:
            model.encoder_text(prompt)
        except PromptError as error:
            problems.append(f"{prompt!r} ({str(error).split(' does not know ', 1)[-1]})")
    if problems:
        raise PromptError(f"reproduce part-a's {setup.kind} prompts need words that "
                          f"{model.name} does not know: {'; '.join(problems)}")


def find_upscaler(model: DiffusionModel) -> Upscaler | None:
    try:
        return model.upscaler()
    except ModelError:
        return None


def reproduce_part_a(out: str | Path, model_spec: str = "mnist", prompts_file: str | None = None,
                     quick: bool = False, device: str = "auto", dtype: str | None = None,
                     offload: str = "none") -> list[Figure]:
    """Every Part A figure into `out` with index.html; dtype and offload apply to IF."""
    out = Path(out)
    model = load_model(model_spec, device, dtype, offload)
    if prompts_file:
        from engine.prompts import attach_embeddings

        attach_embeddings(model, prompts_file)
    setup = setup_for(model, quick)
    check_prompts(model, setup)
    out.mkdir(parents=True, exist_ok=True)
    run = Run(model, setup, out, quick, 6 if quick else None, find_upscaler(model))
    x0 = run.tensor(setup.tests[0][1])
    made = sampling(run)
    made += forward_blur_onestep(run, x0)
    made.append(iterative(run, x0))
    made += from_noise(run)
    made += sdedit_figures(run)
    made.append(inpainting(run))
    made += anagrams(run)
    made.append(hybrids(run))
    write_index(out, made, model.name, quick, setup.notes)
    return made


def write_index(out: Path, made: list[Figure], model_name: str, quick: bool,
                notes: Sequence[str] = ()) -> None:
    note = " (quick: 6 steps, fewer images)" if quick else ""
    write_index_page(out, made, f"Part A: editing with a pretrained diffusion model "
                                f"({model_name}){note}", " ".join(notes) or None)
