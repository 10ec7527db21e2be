"""A job: one run of a mode with its settings, shared by the command line and the app.

`make_loop` turns a job into the engine's generator of step records; `job_parameters` is the JSON
that goes into the PNG `parameters` chunk. No Qt here: the headless commands import this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch

from app.session.modes import KEYS, find_mode, mode_of
from engine import edits
from engine.errors import EngineError
from engine.loops import StepRecord, generator_for
from engine.models.base import DiffusionModel, Upscaler
from engine.schedules import i_start_from_strength
from engine.views import FAILURES, SEEDED, View, views_for

PREVIEW_KINDS = ("x_t", "x0")
DEFAULT_STRENGTH = 0.7  # i_start 10 on IF's 34 timesteps, as in


@dataclass
class Job:
    """The settings of one run. `image` and `mask` are [1, C, S, S] in the model's size/range."""

    mode: str = "sample"
    prompt: str | None = None
    prompt2: str | None = None
    view: str = "flip"
    sigma: float | None = None
    i_start: int | None = None
    guidance: float | None = None
    steps: int | None = None
    seed: int = 0
    count: int = 1
    preview_every: int = 1
    preview_kind: str = "x_t"
    image: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    jump_length: int = 1
    repaint_repeats: int = 1  # inpaint: RePaint passes over each jump (`--resample`)
    upscale: bool = False  # then the model's upscaler (IF stage II) runs on the result
    upscale_only: bool = False  # the upscaler alone, on `image` (a result of this job's mode)
    job_id: int = 0
    # anagrams over 3 or 4 views: the further prompts, each seen through its view; hybrids:
    # one further prompt makes a triple (low / medium / high) split, it is the medium band
    more_prompts: tuple[str, ...] = ()
    more_views: tuple[str, ...] = ()
    view_seed: int = 0  # draws the seeded views (jigsaw, patches, pixels)
    split: str = "frequency"  # hybrids: frequency, triple or colour
    sigma2: float | None = None  # the triple split's fine blur
    allow_failure_views: bool = False  # anagrams: run the paper's failure views knowingly
    # a Live run: the Live steps setting it ran on (0 = Run's) and Run's Steps then (None = the
    # model's default), recorded in its parameters so a kept result and its PNG say so
    live_steps: int | None = None
    run_steps: int | None = None
    # the app's region, converted to `image` as the job is resolved (on the engine thread, so
    # a big image's conversion does not stop the window); None: `image` is as given
    image_source: Callable[[], torch.Tensor] | None = None


def default_i_start(mode: str, num_timesteps: int, strength: float = DEFAULT_STRENGTH) -> int:
    """SDEdit and img2img start at the model's default strength; the other modes from pure
    noise."""
    found = find_mode(mode)
    if found is not None and found.uses_strength:
        return i_start_from_strength(strength, num_timesteps)
    return 0


def check_job(job: Job) -> None:
    """Raises EngineError for a job that cannot run whatever the model."""
    mode = find_mode(job.mode)
    if mode is None:
        raise EngineError(f"unknown mode {job.mode!r}; choose from {', '.join(KEYS)}")
    if job.steps is not None and job.steps < 1:
        raise EngineError("steps must be at least 1")
    if job.count < 1:
        raise EngineError("the count must be at least 1")
    if mode.two_prompts and job.prompt2 is None:
        raise EngineError(f"{job.mode} needs a second prompt")
    check_more(job)
    if job.upscale_only:
        if job.image is None:
            raise EngineError("there is no image to upscale")
        return
    if mode.needs_image and job.image is None:
        raise EngineError(f"{job.mode} needs an input image")
    if mode.needs_mask and job.mask is None:
        raise EngineError("inpaint needs a mask: paint white where new content is generated")
    if job.preview_kind not in PREVIEW_KINDS:
        raise EngineError(f"preview kind must be one of {', '.join(PREVIEW_KINDS)}")


def check_more(job: Job) -> None:
    """The further prompts of an anagram (one view each, up to 4 in all) or a triple hybrid."""
    more = len(job.more_prompts)
    if job.mode == "anagram":
        if more != len(job.more_views):
            raise EngineError(f"an anagram needs one view for each prompt: {2 + more} prompts "
                              f"but {2 + len(job.more_views)} views")
        most = mode_of(job.mode).max_prompts
        if 2 + more > most:
            raise EngineError(f"an anagram takes at most {most} prompts and views, not {2 + more}")
    elif job.mode == "hybrid":
        if job.split == "triple" and more != 1:
            raise EngineError("a triple hybrid needs a third prompt (the medium band)")
        if job.split != "triple" and more:
            raise EngineError(f"a {job.split} hybrid takes two prompts; a third one makes a "
                              "triple (low / medium / high) hybrid")
    elif more or job.more_views:
        raise EngineError(f"{job.mode} takes one prompt")


def anagram_views(model: DiffusionModel, job: Job) -> list[View]:
    """The identity, then each of the job's views, at the model's size (refused there with the
    reason where a view cannot cut that size up)."""
    return views_for([job.view, *job.more_views], model.image_size, model.symmetric_range,
                     job.view_seed)


def band_order(job: Job) -> list[str]:
    """A hybrid's prompts from the lowest band up: a triple's third prompt is its medium band."""
    prompts = job_prompts(job)
    return [prompts[0], prompts[2], prompts[1]] if len(prompts) == 3 else prompts


def hybrid_split(model: DiffusionModel, job: Job) -> edits.Split:
    return edits.resolve_split(model.image_size, job.split, job.sigma, job.sigma2,
                               len(job_prompts(job)))


def with_image(job: Job) -> Job:
    """The job with its `image_source` converted into `image` (the job itself if it has none)."""
    if job.image_source is None:
        return job
    return replace(job, image=job.image_source(), image_source=None)


def resolve_job(model: DiffusionModel, job: Job) -> Job:
    """A copy with the model's defaults filled in: prompt, guidance and i_start; and its image
    read from its `image_source`."""
    job = with_image(job)
    check_job(job)
    n = len(model.schedule.timesteps(job.steps))
    i_start = (default_i_start(job.mode, n, model.default_strength) if job.i_start is None
               else int(job.i_start))
    if not 0 <= i_start <= n - 2:
        raise EngineError(f"i_start must be between 0 and {n - 2} for {n} timesteps")
    return dataclasses.replace(
        job,
        prompt=edits.resolve_prompt(model, job.prompt),
        guidance=edits.resolve_guidance(model, job.guidance),
        i_start=i_start,
    )


def job_prompts(job: Job) -> list[str]:
    """The prompts of a resolved job: one, or two for anagrams and hybrids."""
    prompt = job.prompt or ""
    if not mode_of(job.mode).two_prompts:
        return [prompt]
    return [prompt, job.prompt2 or "", *job.more_prompts]


def _batch(image: torch.Tensor | None, count: int) -> torch.Tensor | None:
    if image is None or count == 1 or image.shape[0] != 1:
        return image
    return image.expand(count, *image.shape[1:])


def make_loop(model: DiffusionModel, job: Job, generator: torch.Generator
              ) -> Iterator[StepRecord]:
    """The engine's generator of step records for `job` (resolved here if it is not yet)."""
    job = resolve_job(model, job)
    prompt, steps, guidance, i_start = job.prompt, job.steps, job.guidance, job.i_start
    image = _batch(job.image, job.count)
    if job.mode == "sample":
        return edits.sample(model, [prompt] * job.count, generator, guidance, steps)
    if mode_of(job.mode).uses_strength:
        return edits.sdedit(model, image, i_start, generator, prompt, guidance, steps)
    if job.mode == "inpaint":
        return edits.inpaint(model, image, job.mask, generator, prompt, guidance, steps, i_start,
                             job.jump_length, job.repaint_repeats)
    prompts = job_prompts(job)
    if job.mode == "anagram":
        return edits.anagram(model, prompts, anagram_views(model, job), generator, guidance,
                             steps, job.image, i_start, job.count, job.allow_failure_views)
    if job.split != "frequency":
        return edits.split_hybrid(model, band_order(job), hybrid_split(model, job), generator,
                                  guidance, steps, job.image, i_start, job.count)
    return edits.hybrid(model, prompts[0], prompts[1], generator, guidance, steps,
                        sigma=job.sigma, image=job.image, i_start=i_start, batch=job.count)


def upscaler_of(model: DiffusionModel) -> Upscaler:
    up = model.upscaler()
    if up is None:
        raise EngineError(f"{model.name} has no upscaler (DeepFloyd IF stage II provides one)")
    return up


def upscale_loop(model: DiffusionModel, job: Job, x: torch.Tensor, generator: torch.Generator
                 ) -> Iterator[StepRecord]:
    """Stage II on a resolved job's result, with its views (anagram) or its frequency split
    at the upscaler's scale (hybrid). Stage II's guidance is its own (4, as diffusers')."""
    up = upscaler_of(model)
    prompts = band_order(job) if job.mode == "hybrid" else job_prompts(job)
    cond, uncond = model.encode(prompts), model.encode([model.unconditional_prompt])
    views = parts = None
    if job.mode == "anagram":
        views = anagram_views(model, job)
    elif job.mode == "hybrid" and job.split != "frequency":
        parts = hybrid_split(model, job).scaled(up.scale).parts()
    elif job.mode == "hybrid":
        sigma = None if job.sigma is None else job.sigma * up.scale
        kernel = None if sigma is None else 2 * round(8 * sigma) + 1
        parts = edits.hybrid_parts(kernel, sigma)
    else:
        cond = cond[:1]
    return up.upscale_steps(x, cond, uncond, generator, up.default_guidance, views=views,
                            parts=parts)


def make_run(model: DiffusionModel, job: Job, generator: torch.Generator
             ) -> Iterator[StepRecord]:
    """`make_loop`, then with `job.upscale` the upscaler, counted as one run of steps.

    The upscaler is loaded first, so a missing stage II fails before stage I's work.
    """
    job = resolve_job(model, job)
    if job.upscale_only:
        return upscale_loop(model, job, job.image, generator_for(model, job.seed, job.count))
    if not job.upscale:
        return make_loop(model, job, generator)
    up = upscaler_of(model)
    return _two_stages(model, job, generator, up.num_steps())


def _two_stages(model: DiffusionModel, job: Job, generator: torch.Generator, second: int
                ) -> Iterator[StepRecord]:
    last = None
    stage_one = make_loop(model, job, generator)
    try:
        for last in stage_one:
            yield replace(last, total=last.total + second)
    finally:
        stage_one.close()
    if last is None:
        raise EngineError("the run made no step")
    first = last.total
    # stage II's noise comes from the seed alone, so upscaling a result later gives the same
    stage_two = upscale_loop(model, job, last.x_t, generator_for(model, job.seed, job.count))
    try:
        for record in stage_two:
            yield replace(record, step=first + record.step, total=first + second)
    finally:
        stage_two.close()


def job_parameters(job: Job, model_spec: str, model: DiffusionModel | None = None, *,
                   prompts_file: str | None = None, image: str | None = None,
                   mask: str | None = None) -> dict:
    """The `parameters` chunk: the keys the command line writes for `sample` or `edit`.

    With `model`, the job's defaults are resolved and the timesteps listed.
    """
    if model is not None:
        job = resolve_job(model, job)
    params = {
        "app": "diffusion-canvas",
        "command": mode_of(job.mode).command,
        "model": model_spec,
        "prompts_file": prompts_file,
        "seed": job.seed,
        "guidance": job.guidance,
        "steps": job.steps,
        "timesteps": model.schedule.timesteps(job.steps) if model is not None else None,
    }
    if job.upscale or job.upscale_only:
        params["upscale"] = True
    if job.live_steps is not None:
        params |= {"live_steps": job.live_steps, "run_steps": job.run_steps}
    if job.mode == "sample":
        return params | {"prompt": job.prompt, "count": job.count}
    two = mode_of(job.mode).two_prompts
    return params | {
        "mode": job.mode, "prompt": job.prompt, "prompt2": job.prompt2 if two else None,
        "view": job.view if job.mode == "anagram" else None, "sigma": job.sigma,
        "i_start": job.i_start, "image": image, "mask": mask} | illusion_parameters(job, model) \
        | repaint_parameters(job)


def repaint_parameters(job: Job) -> dict:
    """An inpaint's RePaint jump length and repeats (`--jump-length`, `--resample`) where they
    are not the plain loop's 1 and 1: they change the result."""
    if job.mode != "inpaint" or (job.jump_length, job.repaint_repeats) == (1, 1):
        return {}
    return {"jump_length": job.jump_length, "resample": job.repaint_repeats}


def own_parameters(parameters: dict, index: int, count: int) -> dict:
    """The parameters of image `index` of a batch of `count`: its index and its own seed (the
    batch's seed + index, which makes it again alone); a single image's are the job's. The app's
    results and the command line's samples both take theirs from here."""
    if count <= 1:
        return parameters
    seed = parameters.get("seed")
    own: dict = {"index": index}
    if isinstance(seed, int):
        own |= {"seed": seed + index, "batch_seed": seed}
    return parameters | own


def illusion_fields(p: dict) -> dict:
    """The Job fields of an illusion from its parameters chunk (the inverse of
    illusion_parameters): its further prompts and views, view seed and split."""
    out: dict = {}
    if isinstance(p.get("view_seed"), int):
        out["view_seed"] = p["view_seed"]
    if p.get("allow_failure_views") is True:
        out["allow_failure_views"] = True
    prompts, views = p.get("prompts"), p.get("views")
    if p.get("mode") == "anagram" and isinstance(prompts, list) and isinstance(views, list):
        out |= {"more_prompts": tuple(prompts[2:]), "more_views": tuple(views[1:])}
    if p.get("mode") == "hybrid" and p.get("split") in edits.SPLITS:
        out["split"] = p["split"]
        if isinstance(p.get("prompt3"), str):
            out["more_prompts"] = (p["prompt3"],)
        if isinstance(p.get("sigma2"), int | float):
            out["sigma2"] = float(p["sigma2"])
    return out


def illusion_parameters(job: Job, model: DiffusionModel | None) -> dict:
    """An anagram's further prompts and views and its views' seed; a hybrid's split (with the
    σs and kernel resolved for the model's size), so an exported illusion can be re-viewed."""
    out: dict = {}
    if job.mode == "anagram":
        views = [job.view, *job.more_views]
        if job.more_prompts:
            out |= {"prompts": job_prompts(job), "views": views}
        if any(v in SEEDED for v in views):
            out["view_seed"] = job.view_seed
        if job.allow_failure_views and any(v in FAILURES for v in views):
            out["allow_failure_views"] = True
    elif job.mode == "hybrid":
        if job.more_prompts:
            out["prompt3"] = job.more_prompts[0]  # the medium band
        if model is not None:
            out |= hybrid_split(model, job).parameters()
        else:
            out |= {"split": job.split} | ({"sigma2": job.sigma2} if job.sigma2 else {})
    return out
