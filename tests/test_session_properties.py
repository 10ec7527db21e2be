"""Observable properties and their bindings (app/session/properties.py)."""

import pytest
from PySide6.QtCore import QObject, Signal

from app.session.properties import Observable, Property, bind, bind_combo, observe


def _non_negative(value: int) -> int:
    if value < 0:
        raise ValueError("negative")
    return value


class Settings(Observable):
    steps = Property(0, persist=True, check=_non_negative)
    prompt = Property("", persist=True)
    running = Property(False)


class Knob(QObject):
    """A widget stand-in with Qt's names: it rounds to tens, as a coarse spin box would."""

    valueChanged = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self._value = 0
        self.sets = 0

    def value(self) -> int:
        return self._value

    def setValue(self, value: int) -> None:  # noqa: N802 (Qt's name)
        self.sets += 1
        rounded = round(value, -1)
        if rounded != self._value:
            self._value = rounded
            self.valueChanged.emit(rounded)


def test_a_property_emits_only_real_changes():
    s = Settings()
    seen, modified = [], []
    s.propertyChanged.connect(lambda name, value: seen.append((name, value)))
    s.modified.connect(modified.append)
    assert s.steps == 0
    s.steps = 5
    s.steps = 5
    s.running = True
    assert seen == [("steps", 5), ("running", True)]
    assert modified == ["steps"]  # running is not persisted


def test_instances_do_not_share_values_and_check_refuses():
    a, b = Settings(steps=3), Settings()
    assert (a.steps, b.steps) == (3, 0)
    with pytest.raises(ValueError):
        a.steps = -1
    assert a.steps == 3
    with pytest.raises(TypeError):
        Settings(nonsense=1)


def test_persisted_and_restored():
    s = Settings(steps=4, prompt="7", running=True)
    assert s.persisted() == {"steps": 4, "prompt": "7"}
    t = Settings()
    assert t.restore({"steps": 9, "running": True, "other": 1, "prompt": "2"}) == [
        "running", "other"]
    assert (t.steps, t.prompt, t.running) == (9, "2", False)
    assert t.restore({"steps": -3}) == ["steps"] and t.steps == 9


def test_observe_sees_one_name_and_stops_when_disconnected():
    s = Settings()
    seen = []
    binding = observe(s, "prompt", seen.append)
    s.steps = 1
    s.prompt = "a"
    binding.disconnect()
    s.prompt = "b"
    assert seen == ["a"]
    with pytest.raises(AttributeError):
        observe(s, "nope", seen.append)


def test_bind_both_ways_without_a_loop_even_where_the_widget_rounds():
    s, knob = Settings(steps=20), Knob()
    changes = []
    s.propertyChanged.connect(lambda name, value: changes.append(value))
    binding = bind(s, "steps", knob, "value")
    assert knob.value() == 20  # the widget shows the property at once
    knob.setValue(40)
    assert s.steps == 40
    sets = knob.sets
    s.steps = 33  # the knob shows 30; its echo does not write 30 back
    assert knob.value() == 30 and s.steps == 33 and knob.sets == sets + 1
    assert changes == [40, 33]
    binding.disconnect()
    knob.setValue(70)
    assert s.steps == 33


def test_one_way_bindings():
    s, knob = Settings(steps=10), Knob()
    bind(s, "steps", knob, "value", "to_widget")
    knob.setValue(50)
    assert s.steps == 10
    s.steps = 20
    assert knob.value() == 20
    other, knob2 = Settings(steps=10), Knob()
    knob2.setValue(60)
    bind(other, "steps", knob2, "value", "to_model")
    assert other.steps == 60  # the model takes the widget's value at once
    other.steps = 1
    assert knob2.value() == 60
    with pytest.raises(ValueError):
        bind(other, "steps", knob2, "value", "sideways")
    with pytest.raises(AttributeError):
        bind(other, "steps", knob2, "colour")


def test_a_spin_box_bound_both_ways(qtbot):
    from PySide6.QtWidgets import QComboBox, QSpinBox

    s = Settings(steps=12)
    spin = QSpinBox(minimum=0, maximum=100)
    qtbot.addWidget(spin)
    bind(s, "steps", spin, "value")
    assert spin.value() == 12
    spin.setValue(30)
    assert s.steps == 30
    s.steps = 7
    assert spin.value() == 7
    combo = QComboBox()
    qtbot.addWidget(combo)
    for key in ("a", "b", "c"):
        combo.addItem(key.upper(), key)
    bind_combo(s, "prompt", combo)
    s.prompt = "c"
    assert combo.currentIndex() == 2
    combo.setCurrentIndex(1)
    assert s.prompt == "b"
