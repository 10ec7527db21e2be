"""Observable properties on a QObject, and bindings to widgets that cannot loop.

    class Settings(Observable):
        steps = Property(0, persist=True)

    settings.steps = 5            # emits propertyChanged("steps", 5) and modified("steps")
    bind(settings, "steps", spin, "value")   # both ways; the spin box shows 5 at once

A property emits only when its value really changes. A binding is busy while it carries a
change, so the echo of that change (the widget's own signal, or the property's) is dropped:
nothing loops even where the widget rounds or clamps the value. QtCore only: no widget types
are imported, a widget is reached through its Qt names (`setValue`, `value`, `valueChanged`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar

from PySide6.QtCore import QObject, Signal

T = TypeVar("T")
Direction = Literal["both", "to_widget", "to_model"]
_MISSING = object()


class Property(Generic[T]):
    """A value on an Observable: `default` until set; `persist` marks what is remembered
    (saved settings, projects); `check` may clean or refuse (raise ValueError) a new value."""

    def __init__(self, default: T, *, persist: bool = False,
                 check: Callable[[T], T] | None = None) -> None:
        self.default = default
        self.persist = persist
        self.check = check
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Observable | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._values.get(self.name, self.default)

    def __set__(self, obj: Observable, value: T) -> None:
        if self.check is not None:
            value = self.check(value)
        old = obj._values.get(self.name, _MISSING)
        if old is _MISSING:
            old = self.default
        if type(old) is type(value) and old == value:
            return
        obj._values[self.name] = value
        obj.propertyChanged.emit(self.name, value)
        if self.persist:
            obj.modified.emit(self.name)


class Observable(QObject):
    """A QObject whose Property attributes announce their changes."""

    propertyChanged = Signal(str, object)  # the name and the new value
    modified = Signal(str)  # a persisted property changed

    def __init__(self, parent: QObject | None = None, **values: Any) -> None:
        super().__init__(parent)
        self._values: dict[str, Any] = {}
        for name, value in values.items():
            if name not in self.property_names():
                raise TypeError(f"{type(self).__name__} has no property {name!r}")
            setattr(self, name, value)

    @classmethod
    def _properties(cls) -> dict[str, Property]:
        found: dict[str, Property] = {}
        for klass in reversed(cls.__mro__):
            found |= {k: v for k, v in vars(klass).items() if isinstance(v, Property)}
        return found

    @classmethod
    def property_names(cls) -> list[str]:
        return list(cls._properties())

    def persisted(self) -> dict[str, Any]:
        """The remembered properties and their values."""
        return {name: getattr(self, name) for name, p in self._properties().items()
                if p.persist}

    def restore(self, values: dict[str, Any]) -> list[str]:
        """Sets the persisted properties found in `values`; returns the keys left out (not a
        persisted property, or refused by its check)."""
        props, left_out = self._properties(), []
        for name, value in values.items():
            if name not in props or not props[name].persist:
                left_out.append(name)
                continue
            try:
                setattr(self, name, value)
            except (TypeError, ValueError):
                left_out.append(name)
        return left_out


class Binding:
    """A live connection between a property and a widget; `disconnect()` ends it."""

    def __init__(self) -> None:
        self.busy = False  # carrying a change: its echo is dropped
        self._links: list[tuple[Any, Callable]] = []

    def link(self, signal: Any, slot: Callable) -> None:
        signal.connect(slot)
        self._links.append((signal, slot))

    def carry(self, apply: Callable[[], None]) -> None:
        if self.busy:
            return
        self.busy = True
        try:
            apply()
        finally:
            self.busy = False

    def disconnect(self) -> None:
        for signal, slot in self._links:
            signal.disconnect(slot)
        self._links.clear()


def observe(obj: Observable, name: str, callback: Callable[[Any], None]) -> Binding:
    """Calls `callback(value)` each time `obj.name` changes."""
    _check_name(obj, name)
    binding = Binding()
    binding.link(obj.propertyChanged, lambda changed, value: changed == name and callback(value))
    return binding


_SIGNALS = {"checked": "toggled", "currentText": "currentTextChanged"}


def widget_accessors(widget: QObject, prop: str) -> tuple[Callable, Callable[[Any], None], Any]:
    """The getter, setter and change signal of a widget's Qt property by Qt's naming."""
    cap = prop[0].upper() + prop[1:]
    getter = getattr(widget, prop, None) or getattr(widget, f"is{cap}", None)
    setter = getattr(widget, f"set{cap}", None)
    signal = getattr(widget, _SIGNALS.get(prop, f"{prop}Changed"), None)
    if getter is None or setter is None or signal is None:
        raise AttributeError(f"{type(widget).__name__} has no observable property {prop!r}")
    return getter, setter, signal


def bind(obj: Observable, name: str, widget: QObject, prop: str,
         direction: Direction = "both") -> Binding:
    """Keeps `widget.prop` and `obj.name` equal. The widget shows the property's value at once
    (unless `direction` is "to_model", where the property takes the widget's)."""
    getter, setter, signal = widget_accessors(widget, prop)
    return _bind(obj, name, getter, setter, signal, direction)


def bind_combo(obj: Observable, name: str, combo: QObject,
               direction: Direction = "both") -> Binding:
    """Binds a property to a combo box's item data (a value not among the items is not
    shown; the property keeps it)."""
    def show(value: Any) -> None:
        index = combo.findData(value)
        if index >= 0:
            combo.setCurrentIndex(index)

    return _bind(obj, name, combo.currentData, show, combo.currentIndexChanged, direction)


def bind_with(obj: Observable, name: str, getter: Callable[[], Any],
              setter: Callable[[Any], None], signal: Any,
              direction: Direction = "both") -> Binding:
    """Binds a property to a widget through its own getter, setter and change signal, for a
    widget whose value is no single Qt property (a prompt box's prompt, a radio pair)."""
    return _bind(obj, name, getter, setter, signal, direction)


def _bind(obj: Observable, name: str, getter: Callable, setter: Callable[[Any], None],
          signal: Any, direction: Direction) -> Binding:
    _check_name(obj, name)
    if direction not in ("both", "to_widget", "to_model"):
        raise ValueError(f"direction must be both, to_widget or to_model, not {direction!r}")
    binding = Binding()

    def to_widget(changed: str, value: Any) -> None:
        if changed == name:
            binding.carry(lambda: setter(value))

    def to_model(*_: object) -> None:
        binding.carry(lambda: setattr(obj, name, getter()))

    if direction != "to_model":
        binding.link(obj.propertyChanged, to_widget)
        binding.carry(lambda: setter(getattr(obj, name)))
    if direction != "to_widget":
        binding.link(signal, to_model)
        if direction == "to_model":
            to_model()
    return binding


def _check_name(obj: Observable, name: str) -> None:
    if name not in obj.property_names():
        raise AttributeError(f"{type(obj).__name__} has no property {name!r}")
