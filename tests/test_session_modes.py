"""The one table of the modes (app/session/modes.py) and the panel built from it."""

from dataclasses import dataclass

import pytest

from app.cli import EDIT_MODES
from app.history import key_setting
from app.jobs import Job, check_job, default_i_start
from app.session import modes
from app.session.settings import RunSettings, bind_panel
from engine.errors import EngineError


def test_the_table_covers_every_mode_the_cli_accepts():
    assert set(modes.KEYS) == {"sample", *EDIT_MODES}
    assert len(modes.KEYS) == len(modes.MODES)  # no key twice
    for key in EDIT_MODES:
        assert modes.mode_of(key).command == "edit"
    assert modes.mode_of("sample").command == "sample"


def test_each_mode_is_consistent():
    for m in modes.MODES:
        assert m.rows <= modes.PANEL_ROWS and set(m.key_parts) <= modes.KEY_PARTS, m.key
        assert ("prompt2" in m.rows) == m.two_prompts, m.key
        assert m.prompts <= m.max_prompts <= 4, m.key
        assert ("live" in m.rows) == m.live, m.key
        assert not m.needs_mask or m.needs_image, m.key
        assert m.label and m.hint, m.key


def test_lookups():
    assert modes.keys_where(needs_image=True) == ("sdedit", "inpaint", "img2img")
    assert modes.keys_where(illusion=True) == ("anagram", "hybrid")
    assert modes.keys_where(live=True) == ("sdedit",)
    assert modes.find_mode("nonsense") is None and modes.find_mode(None) is None
    with pytest.raises(KeyError, match="choose from sample, sdedit"):
        modes.mode_of("nonsense")
    assert modes.is_illusion({"mode": "hybrid"}) and not modes.is_illusion({"mode": "sdedit"})
    assert not modes.is_illusion({}) and not modes.needs_image("sample")
    assert modes.needs_image(modes.IMAGE_DEFAULT) and not modes.needs_image(modes.DEFAULT)


def test_the_job_checks_follow_the_table():
    for m in modes.MODES:
        job = Job(mode=m.key, prompt2="b" if m.two_prompts else None)
        if m.needs_image:
            with pytest.raises(EngineError, match="needs an input image"):
                check_job(job)
        else:
            check_job(job)
        assert (default_i_start(m.key, 30, 0.5) > 0) == m.uses_strength, m.key
    with pytest.raises(EngineError, match="at most 4 prompts"):
        check_job(Job(mode="anagram", prompt2="b", more_prompts=("c", "d", "e"),
                      more_views=("rot90", "rot180", "rot270")))
    with pytest.raises(EngineError, match="unknown mode 'x'; choose from sample"):
        check_job(Job(mode="x"))


def test_history_labels_come_from_the_key_parts():
    assert key_setting({"mode": "anagram", "prompt": "6", "prompt2": "9",
                        "view": "rot180"}) == "6/9 rot180"
    assert key_setting({"mode": "hybrid", "prompt": "", "prompt2": "1"}) == "uncond./1"
    assert key_setting({"mode": "img2img", "prompt": "7", "i_start": 5}) == "7 i 5"
    assert key_setting({"mode": "sdedit", "prompt": "3", "i_start": 5}) == "i 5"
    assert key_setting({"mode": "sdedit", "prompt": "3"}) == "3"
    assert key_setting({"command": "sample", "prompt": "2"}) == "2"
    assert key_setting({"mode": "unknown", "prompt": "4"}) == "4"


def _visible(panel) -> set[str]:
    return {name for name, widget in panel._optional.items() if panel._form.isRowVisible(widget)}


def test_the_panel_shows_each_modes_rows_from_the_table(qtbot):
    from widgets.modes_panel import OPTIONAL_ROWS, ModesPanel

    assert set(OPTIONAL_ROWS) == modes.PANEL_ROWS == set(ModesPanel()._optional)
    panel = ModesPanel(modes=modes.MODES)
    qtbot.addWidget(panel)
    settings = RunSettings()
    bind_panel(settings, panel)
    panel.set_model_info({"prompts": ["0", "1"], "default_prompt": "0", "timesteps": 30,
                          "timestep_values": list(range(29, -1, -1)), "size": 28})
    assert [panel.mode.itemData(i) for i in range(panel.mode.count())] == list(modes.KEYS)
    for m in modes.MODES:
        panel.set_mode(m.key)
        assert _visible(panel) == set(m.rows), m.key
        assert (panel.prompt_label.text(), panel.prompt2_label.text()) == m.prompt_labels
        assert panel.mode_hint.text().startswith(m.hint)
        assert panel.mode_hint.text().endswith(m.small_note)  # a 28 px model
        s = settings.job_fields()
        assert (s["prompt2"] is not None) == m.two_prompts, m.key
        assert (s["i_start"] is not None) == m.uses_strength, m.key


@dataclass(frozen=True)
class Row:
    """Plain rows, not the app's table: the panel needs nothing else."""

    key: str
    label: str
    hint: str
    rows: frozenset[str] = frozenset()
    prompt_labels: tuple[str, str] = ("Prompt", "Prompt 2")
    small_note: str = ""
    small_size: int = 0


def test_the_panel_takes_any_plain_rows(qtbot):
    from widgets.modes_panel import ModesPanel

    panel = ModesPanel()
    qtbot.addWidget(panel)
    assert panel.mode.count() == 0 and _visible(panel) == set()
    panel.set_modes([Row("a", "A", "first"), Row("b", "B", "second", frozenset({"prompt2"}),
                                                   ("Left", "Right"), " tiny", 64)])
    panel.set_model_info({"prompts": ["x", "y"], "default_prompt": "x", "size": 32})
    panel.set_mode("b")
    assert _visible(panel) == {"prompt2"} and panel.prompt2_label.text() == "Right"
    assert panel.mode_hint.text() == "second tiny"
    assert panel.prompt2.prompt() == "y"
    panel.set_modes([Row("b", "B", "only")])  # the current mode is kept
    assert panel.current_mode() == "b" and panel.mode_hint.text() == "only"
