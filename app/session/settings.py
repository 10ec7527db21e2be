"""The run settings as observable properties: what the next run is made of (issue 13).

The window binds each property to its widget in the modes panel (`bind_panel`), both ways; the
panel is only a view. `job_fields(rng)` is the one place a random seed is drawn: when a job is
made, never when a widget is read. A seed restored from a file (`apply_parameters`) serves one
job, then seeds are random again. The remembered properties (`persist=True`) are those the panel
remembered between launches before they moved here; of them and the extra prompts, those of
MODEL_SETTINGS are each model's own (the session keeps them per model), the rest shared.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.session.modes import DEFAULT, KEYS, is_mode, mode_of
from app.session.properties import (
    Binding,
    Observable,
    Property,
    bind,
    bind_combo,
    bind_with,
    observe,
)
from engine.schedules import evenly_spaced_timesteps, i_start_from_strength
from engine.views import FAILURES

MAX_SEED = 2**31 - 1
# Live's own, coarser schedule (0: Run's): measured on the emoji cascade for >= 3 results/s on
# 2 cores, quality checked on the digit model (docs/benchmarks.md, "Live on a coarser schedule")
LIVE_STEPS = 10
DEFAULT_STRENGTH = 0.7  # SDEdit's share of noise until a model says its own default
PREVIEW_KINDS = ("x_t", "x0")
SPLITS = ("frequency", "triple", "colour")
NO_VIEW = ""  # an anagram's 3rd or 4th view left out: it stops there
# the settings that belong to one model (their defaults differ by model, or what they say does:
# a digit's "7", IF's guidance 7 against the digits' 5, 30 steps on T = 300 against 34 on 1000);
# the rest (mode, view, sigma, seed, count, upscale...) are shared by every model
MODEL_SETTINGS = ("prompt", "prompt2", "prompt3", "prompt4", "medium", "guidance", "strength",
                  "steps")
DERIVED_SETTINGS = frozenset({"timesteps", "upscale_available"})  # follow the model, not the user
# a change of one of these re-runs Live (the drawn seed of a job is no change)
LIVE_INPUTS = frozenset({"prompt", "prompt2", "strength", "guidance", "steps", "seed", "view",
                         "sigma", "live_steps"})


def known_mode(key: str) -> str:
    if not is_mode(key):
        raise ValueError(f"unknown mode {key!r}; choose from {', '.join(KEYS)}")
    return key


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, not {type(value).__name__}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, not {type(value).__name__}")
    return value


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                isinstance(value, float) and not value.is_integer()):  # inf too: JSON reads it
            raise TypeError(f"expected a whole number, not {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{value} is not from {low} to {high}")
        return int(value)
    return check


def _number(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, not {value!r}")
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(f"{value} is not from {low:g} to {high:g}")
        return float(value)
    return check


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return str(value)
    return check


class RunSettings(Observable):
    """What the next run is made of. `views`: the view keys offered (an unknown view from a file
    is left out); empty accepts any. `timesteps` (the strided list of the current step count)
    and `upscale_available` follow the model; they turn `strength` into an i_start and say
    whether Upscale applies."""

    inputsChanged = Signal()  # a change that should re-run Live (LIVE_INPUTS)

    mode = Property(DEFAULT, persist=True, check=known_mode)
    prompt = Property("", persist=True, check=_text)
    prompt2 = Property("", persist=True, check=_text)
    prompt3 = Property("", check=_text)  # an anagram's 3rd and 4th prompts
    prompt4 = Property("", check=_text)
    medium = Property("", check=_text)  # a triple hybrid's medium band
    view = Property("flip", persist=True, check=_text)
    view3 = Property(NO_VIEW, check=_text)
    view4 = Property(NO_VIEW, check=_text)
    view_seed = Property(0, persist=True, check=_whole(0, MAX_SEED))
    split = Property("frequency", persist=True, check=_one_of(SPLITS))
    sigma = Property(0.0, persist=True, check=_number(0.0, 20.0))  # 0 = auto
    sigma2 = Property(0.0, persist=True, check=_number(0.0, 20.0))  # 0 = auto
    strength = Property(DEFAULT_STRENGTH, persist=True, check=_number(0.0, 1.0))
    guidance = Property(1.0, persist=True, check=_number(0.0, 30.0))
    steps = Property(0, persist=True, check=_whole(0, 1000))  # 0 = the model's default
    live_steps = Property(LIVE_STEPS, persist=True, check=_whole(0, 1000))  # 0 = Run's steps
    seed = Property(0, persist=True, check=_whole(0, MAX_SEED))
    random_seed = Property(True, persist=True, check=_flag)
    count = Property(1, persist=True, check=_whole(1, 64))
    preview_every = Property(1, check=_whole(1, 1000))
    preview_kind = Property("x_t", check=_one_of(PREVIEW_KINDS))
    upscale = Property(False, persist=True, check=_flag)
    upscale_available = Property(False, check=_flag)
    timesteps = Property((), check=tuple)

    def __init__(self, parent: QObject | None = None, views: Sequence[str] = (),
                 **values: Any) -> None:
        self._views = tuple(views)
        self._seed_once = False  # the seed came from a file and serves one job
        self._drawing = False  # a job's seed is being drawn: not an input change
        super().__init__(parent, **values)
        self.propertyChanged.connect(self._on_changed)

    def _on_changed(self, name: str, _value: Any) -> None:
        if name == "random_seed":
            self._seed_once = False  # the user chose: no restored seed any more
        if name in LIVE_INPUTS and not self._drawing:
            self.inputsChanged.emit()

    def restore(self, values: dict[str, Any]) -> list[str]:
        """The remembered settings of the last launch; Upscale only where the model has one."""
        left_out = super().restore(values)
        if not self.upscale_available:
            self.upscale = False
        return left_out

    def persisted(self) -> dict[str, Any]:
        """The remembered properties. A seed restored from a file serves one run of this launch
        only, so it is remembered as random: the next launch (after a crash too, where the
        settings kept are those of the last run, taken before its seed was drawn) draws anew."""
        values = super().persisted()
        if self._seed_once:
            values["random_seed"] = True
        return values

    def shared(self) -> dict[str, Any]:
        """The remembered settings every model shares (`persisted` less MODEL_SETTINGS)."""
        return {k: v for k, v in self.persisted().items() if k not in MODEL_SETTINGS}

    def model_values(self) -> dict[str, Any]:
        """The settings that belong to the model loaded (MODEL_SETTINGS)."""
        return {name: getattr(self, name) for name in MODEL_SETTINGS}

    def restore_model(self, defaults: dict[str, Any], values: dict[str, Any]) -> list[str]:
        """A model's own settings: its `defaults` (ModelState.run_defaults), then those
        remembered for it (`values`) where they fit; returns the keys of `values` left out."""
        for name in MODEL_SETTINGS:
            if name in defaults:
                self._try(name, defaults[name])
        left_out = []
        for name, value in values.items():
            if name not in MODEL_SETTINGS or not self._try(name, value):
                left_out.append(name)
        return left_out

    # --- the seed -----------------------------------------------------------------------------
    @property
    def seed_once(self) -> bool:
        """The seed shown came from a file: the next job uses it, then seeds are random."""
        return self._seed_once

    def draw_seed(self, rng: random.Random | None = None) -> int:
        """The seed of the job being made: a new one if seeds are random (shown, so it can be
        reused), else the one shown (a restored seed serves this job only)."""
        if self.random_seed:
            self._drawing = True
            try:
                self.seed = (rng or random).randint(0, MAX_SEED)
            finally:
                self._drawing = False
        elif self._seed_once:
            self.forget_restored_seed()
        return self.seed

    def forget_restored_seed(self) -> None:
        """A seed restored from a file serves one run (or until a fresh image): random again."""
        if self._seed_once:
            self._seed_once = False
            self.random_seed = True

    def restore_seed_choice(self, random_seed: bool) -> None:
        """A project's own choice: seeds random again (the saved seed shown), or the saved
        seed kept for every run, as when it was saved."""
        if random_seed:
            self.forget_restored_seed()
        else:
            self._seed_once = False
            self.random_seed = False

    def give_back_seed(self, seed: int) -> bool:
        """A run that spent the restored `seed` failed: it serves the next run again, unless
        the user (or another run) has put another seed or choice in its place since."""
        if self._seed_once or not self.random_seed or self.seed != seed:
            return False
        self.random_seed = False
        self._seed_once = True
        return True

    def roll_seed(self, rng: random.Random | None = None) -> int:
        """A new random seed, kept fixed (the panel's Roll)."""
        self.random_seed = False
        self._seed_once = False
        self.seed = (rng or random).randint(0, MAX_SEED)
        return self.seed

    # --- strength and i_start -----------------------------------------------------------------
    def max_i_start(self) -> int:
        """The last i_start that still denoises (the final timestep, t = 0, would not)."""
        return max(len(self.timesteps) - 2, 0)

    def i_start(self) -> int:
        """The course's index into the strided timesteps (0 = pure noise) nearest `strength`;
        the strength stays a fraction, so a new step count keeps the share of noise."""
        return self._i_start_of(len(self.timesteps))

    def _i_start_of(self, n: int) -> int:
        """i_start on a list of `n` timesteps (the last one that still denoises at most)."""
        if n < 2:
            return 0
        return min(i_start_from_strength(self.strength, n), n - 2)

    def set_i_start(self, i_start: int, num_timesteps: int | None = None) -> None:
        """The strength of `i_start` on a list of `num_timesteps` (default: Run's)."""
        n = len(self.timesteps) if num_timesteps is None else num_timesteps
        if n > 1:
            self.strength = 1.0 - min(max(int(i_start), 0), max(n - 2, 0)) / (n - 1)

    # --- jobs and files -----------------------------------------------------------------------
    def job_fields(self, rng: random.Random | None = None, *, draw: bool = True) -> dict[str, Any]:
        """The settings of a job; keys match app.jobs.Job. The seed is drawn here (`draw`)
        unless False: Live runs and saved projects keep the one shown."""
        if draw:
            self.draw_seed(rng)
        mode = mode_of(self.mode)
        return {
            "mode": self.mode,
            "prompt": self.prompt,
            "prompt2": self.prompt2 if mode.two_prompts else None,
            "view": self.view,
            "sigma": self.sigma or None,
            "i_start": self.i_start() if mode.uses_strength else None,
            "guidance": self.guidance,
            "steps": self.steps or None,
            "seed": self.seed,
            "count": self.count,
            "preview_every": self.preview_every,
            "preview_kind": self.preview_kind,
            "upscale": self.upscale and self.upscale_available,
        } | self.illusion_fields()

    def live_timesteps(self) -> list[int]:
        """The schedule a Live run takes: `live_steps` evenly spaced from the same top, never
        more steps than Run's (0, or as many as Run's: Run's own list)."""
        run = list(self.timesteps)
        if not self.live_steps or not run or self.live_steps >= len(run) - 1:
            return run
        return evenly_spaced_timesteps(run[0], self.live_steps)

    def live_fields(self) -> dict[str, Any]:
        """A Live run's job settings: the seed shown, Live's own schedule, and the strength as
        the same share of it (i_start scales with the step count); the rest as Run's."""
        fields = self.job_fields(draw=False)
        live = self.live_timesteps()
        if live != list(self.timesteps):
            fields["steps"] = len(live) - 1
            if fields["i_start"] is not None:
                fields["i_start"] = self._i_start_of(len(live))
        return fields | {"live_steps": self.live_steps, "run_steps": self.steps or None}

    def more_views(self) -> tuple[str, ...]:
        """The anagram's views after the first, up to the first left out."""
        out: list[str] = []
        for view in (self.view3, self.view4):
            if view == NO_VIEW:
                break
            out.append(view)
        return tuple(out)

    def illusion_fields(self) -> dict[str, Any]:
        if self.mode == "anagram":
            views = self.more_views()
            return {"more_prompts": (self.prompt3, self.prompt4)[:len(views)],
                    "more_views": views, "view_seed": self.view_seed,
                    # the app offers the failure views only under their warning: knowingly
                    "allow_failure_views": any(v in FAILURES for v in (self.view, *views))}
        if self.mode == "hybrid":
            return {"split": self.split, "sigma2": self.sigma2 or None,
                    "more_prompts": (self.medium,) if self.split == "triple" else ()}
        return {}

    def apply_parameters(self, p: dict[str, Any]) -> None:
        """Shows the settings of an earlier run (a PNG's parameters, a project's panel), where
        they apply; a value that does not fit is left out. The seed serves one job."""
        if p.get("mode") or p.get("command") == "sample":
            self._try("mode", p.get("mode") or "sample")
        for key in ("prompt", "prompt2"):
            if isinstance(p.get(key), str):
                self._try(key, p[key])
        if self._known_view(p.get("view")):
            self.view = p["view"]
        for key in ("guidance", "sigma", "count"):
            if isinstance(p.get(key), int | float):
                self._try(key, p[key])
        live = live_steps_of(p)
        if live is not None:
            self._try("live_steps", live)
        self._apply_steps(p, "steps" if live is None else "run_steps")
        seed = p.get("seed")
        if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED:
            self.seed = seed
            if self.random_seed:
                self.random_seed = False
                self._seed_once = True
        if self.upscale_available:
            self.upscale = p.get("upscale") is True
        if isinstance(p.get("i_start"), int):  # a Live run's is on the schedule it ran on
            self.set_i_start(p["i_start"], None if live is None else timesteps_ran(p))
        self._apply_illusion(p)

    def _apply_steps(self, p: dict[str, Any], key: str) -> None:
        """Run's Steps from `p[key]` (a Live PNG's are its `run_steps`); absent: left."""
        if isinstance(p.get(key), int | float):
            self._try("steps", p[key])
        elif key in p and p[key] is None:  # made on the default schedule: so its i_start
            self._try("steps", 0)

    def _apply_illusion(self, p: dict[str, Any]) -> None:
        views, prompts = p.get("views"), p.get("prompts")
        if p.get("mode") == "anagram":
            more = list(views[1:]) if isinstance(views, list) else []
            extra = list(prompts[2:]) if isinstance(prompts, list) else []
            for i, (view, prompt) in enumerate((("view3", "prompt3"), ("view4", "prompt4"))):
                shown = more[i] if i < len(more) and self._known_view(more[i]) else NO_VIEW
                setattr(self, view, shown)
                if i < len(extra) and isinstance(extra[i], str):
                    setattr(self, prompt, extra[i])
        if isinstance(p.get("view_seed"), int):
            self._try("view_seed", p["view_seed"])
        if p.get("mode") == "hybrid":
            if not self._try("split", p.get("split") or "frequency"):
                self.split = "frequency"  # a split this version does not have
            if isinstance(p.get("prompt3"), str):
                self.medium = p["prompt3"]
            if isinstance(p.get("sigma2"), int | float):
                self._try("sigma2", p["sigma2"])

    def _known_view(self, view: object) -> bool:
        return isinstance(view, str) and view != NO_VIEW and (
            not self._views or view in self._views)

    def _try(self, name: str, value: Any) -> bool:
        try:
            setattr(self, name, value)
        except (TypeError, ValueError):
            return False
        return True


def live_steps_of(p: dict[str, Any]) -> int | None:
    """The Live steps setting a result's parameters record (None: not a Live run's, or made
    before Live recorded it)."""
    value = p.get("live_steps")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def timesteps_ran(p: dict[str, Any]) -> int | None:
    """How many timesteps the run of parameters `p` took (None: they do not say)."""
    timesteps, steps = p.get("timesteps"), p.get("steps")
    if isinstance(timesteps, list | tuple) and len(timesteps) > 1:
        return len(timesteps)
    if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0:
        return steps + 1
    return None


def bind_mode(settings: RunSettings, combo: QObject) -> Binding:
    """The mode both ways with a combo box whose items' data are the mode keys."""
    return bind_combo(settings, "mode", combo)


def bind_panel(settings: RunSettings, panel: Any) -> list[Binding]:
    """Every run setting both ways with its widget of widgets.modes_panel.ModesPanel (reached by
    its attribute names: this module imports no widget). The settings' values show at once."""
    ill = panel.illusion
    out = [bind_mode(settings, panel.mode)]
    for name, box in (("prompt", panel.prompt), ("prompt2", panel.prompt2),
                      ("prompt3", ill.prompt3), ("prompt4", ill.prompt4),
                      ("medium", ill.medium)):
        out.append(bind_with(settings, name, box.prompt, box.set_prompt, box.currentTextChanged))
    for name, combo in (("view", panel.view), ("view3", ill.view3), ("view4", ill.view4),
                        ("split", ill.split)):
        out.append(bind_combo(settings, name, combo))
    for name, box in (("view_seed", ill.view_seed), ("sigma", panel.sigma),
                      ("sigma2", ill.sigma2), ("guidance", panel.guidance),
                      ("steps", panel.steps), ("live_steps", panel.live_steps),
                      ("seed", panel.seed), ("count", panel.count),
                      ("preview_every", panel.preview_every)):
        out.append(bind(settings, name, box, "value"))
    out.append(bind(settings, "random_seed", panel.random_seed, "checked"))
    out.append(bind(settings, "upscale", panel.upscale, "checked"))
    out.append(bind_with(settings, "preview_kind",
                         lambda: "x0" if panel.show_x0.isChecked() else "x_t",
                         lambda kind: (panel.show_x0 if kind == "x0"
                                       else panel.show_xt).setChecked(True),
                         panel.show_x0.toggled))
    out.append(observe(settings, "timesteps", lambda ts: panel.set_timesteps(list(ts))))
    out.append(bind_with(settings, "strength", panel.strength_fraction,
                         panel.set_strength_fraction, panel.strengthChanged))
    return out
