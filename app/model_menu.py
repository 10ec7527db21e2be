"""The Model menu: the models found (bundled, Hugging Face cache, a folder opened by hand),
the table's Model rows, and the device, precision and offload choices. It follows the
session's model request (a rollback too) and asks the session for every change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu

from app import actions as action_table
from app.session.model_state import LoadRequest, ModelState
from app.session.session import Session
from app.settings import model_key
from engine.devices import DEVICES, available_devices

MAX_FOLDERS = 8  # model folders used before, listed under Folder (most recent first)
PRECISION_LABELS = {"auto": "Auto (fp16 for IF on a GPU; bf16 for the digits and the emoji "
                            "cascade on a CPU with native bf16; else fp32)", "fp32": "fp32",
                    "bf16": "bf16 (half the memory of fp32 on the CPU)", "fp16": "fp16 (GPU only)"}
FP16_CPU_TIP = ("fp16 runs on a GPU only (CUDA or MPS): on the CPU it is slow or missing, so "
                "the model would run fp32 there; bf16 halves the CPU's memory")
OFFLOAD_LABELS = {"none": "None: all of the model on the device",
                  "model": "Model offload: one module at a time on the GPU",
                  "sequential": "Sequential offload: least GPU memory, slowest"}


class ModelMenu(QObject):
    """Fills `menu` (rebuilt by `fill`); `actions` are the table's QActions."""

    def __init__(self, menu: QMenu, session: Session, actions: dict[str, QAction]) -> None:
        super().__init__(menu)
        self.menu, self.session, self._actions = menu, session, actions
        self.device_actions: dict[str, QAction] = {}
        self.precision_actions: dict[str, QAction] = {}
        self.offload_actions: dict[str, QAction] = {}
        self.fill()
        session.requestChanged.connect(self.follow)

    def model_actions(self) -> list[QAction]:
        return self._group.actions()

    def fill(self) -> None:
        """Bundled models, Hugging Face cache entries, a model folder, and the devices."""
        from engine.models.registry import RESOURCES, find_models

        menu = self.menu
        menu.clear()
        self._group = QActionGroup(self)
        try:
            found = find_models()
        except Exception:  # noqa: BLE001 - a broken cache must not stop the window
            found = []
        bundled = [m for m in found if RESOURCES in Path(m.where).parents]
        cached = [m for m in found if m not in bundled]
        sections = (("Bundled", bundled, "(no bundled model found)"),
                    ("Hugging Face cache", cached, "(nothing usable in the cache)"))
        for title, models, empty in sections:
            menu.addSection(title)
            for info in models:
                self._add_entry(info)
            if not models:
                menu.addAction(empty).setEnabled(False)
        folders = self._folders({m.name for m in found})
        if folders:
            menu.addSection("Folder")
            for spec in folders:
                self._add_model(Path(spec).name, spec, spec)
        action_table.fill_menu(menu, "Model", self._actions)  # model folder, embeddings
        self._fill_options()

    def _folders(self, found: set[str]) -> list[str]:
        """The model folder loaded, then those used before (each model's settings are kept, so
        a restart still lists them), each once and only while on disk."""
        s = self.session
        remembered = [spec for spec in s.preferences.model_run_settings()
                      if Path(spec).is_absolute()]
        out, seen = [], set()
        for spec in ([s.model_spec] if s.model_spec else []) + remembered:
            key = model_key(spec)
            if spec in found or key in seen or not Path(spec).is_dir():
                continue
            seen.add(key)
            out.append(spec)
        return out[:MAX_FOLDERS]

    def loaded(self, state: ModelState) -> None:
        """A model loaded: a folder opened by hand gets its own entry; its entry is ticked;
        fp16 is offered on a GPU only, and a remembered fp16 on the CPU says once what runs."""
        if state.spec not in [a.data() for a in self.model_actions()]:
            self.fill()
        for action in self.model_actions():
            action.setChecked(action.data() == state.spec)
        self._offer_fp16(state.device)
        if self.session.precision == "fp16" and not fp16_runs_on(state.device):
            self.session.status.emit(f"fp16 is not supported on the CPU: running "
                                     f"{state.short_dtype}")

    def _offer_fp16(self, device: str) -> None:
        """fp16 enabled where it runs; where not, Auto is ticked in its place (what runs)."""
        fp16 = self.precision_actions.get("fp16")
        if fp16 is None:
            return
        usable = fp16_runs_on(device)
        fp16.setEnabled(usable)
        fp16.setToolTip("" if usable else FP16_CPU_TIP)
        self.precision_actions[self._shown_precision(self.session.precision)].setChecked(True)

    def _shown_precision(self, precision: str) -> str:
        fp16 = self.precision_actions.get("fp16")
        return "auto" if precision == "fp16" and fp16 and not fp16.isEnabled() else precision

    def follow(self, request: LoadRequest) -> None:
        """The ticks follow the request (a rollback too)."""
        for actions, key in ((self.device_actions, request.device),
                             (self.precision_actions, self._shown_precision(request.precision)),
                             (self.offload_actions, request.offload)):
            if key in actions:
                actions[key].setChecked(True)
        for action in self.model_actions():
            action.setChecked(action.data() == request.spec)

    def _add_entry(self, info: Any) -> None:
        action = self._add_model(f"{info.name}  ({info.kind})", info.name, str(info.where))
        if info.kind == "deepfloyd-if-upscaler":  # found by stage I, not loaded alone
            action.setEnabled(False)
            action.setText(f"{info.name}  (IF stage II: Upscale uses it)")
            action.setToolTip(f"{info.where}: stage II upscales stage I's results; "
                              "load a stage I model (IF-I-*) and tick Upscale")

    def _add_model(self, text: str, spec: str, where: str) -> QAction:
        action = QAction(text, self.menu, checkable=True)
        action.setData(spec)
        action.setToolTip(where)
        action.setChecked(spec == self.session.model_spec)
        action.triggered.connect(lambda _=False, n=spec: self.session.load_model(n))
        self._group.addAction(action)
        self.menu.addAction(action)
        return action

    def _fill_options(self) -> None:
        s, menu, have = self.session, self.menu, available_devices()
        self.device_actions = choice_menu(
            menu.addMenu("&Device"), {d: d for d in DEVICES}, s.device, s.set_device,
            {d: f"{d} is not available on this machine" for d in DEVICES if not have.get(d)})
        precision = menu.addMenu("&Precision")
        precision.setToolTipsVisible(True)
        self.precision_actions = choice_menu(precision, PRECISION_LABELS, s.precision,
                                             s.set_precision)
        state = s.model_state
        self._offer_fp16(state.device if state is not None else asked_device(s.device, have))
        offload = menu.addMenu("&Offload")
        self.offload_actions = choice_menu(offload, OFFLOAD_LABELS, s.offload, s.set_offload)
        offload.menuAction().setToolTip("Offload applies to large models (DeepFloyd IF)")
        precision.menuAction().setToolTip(  # issue 15: the digit models take it too
            "Precision applies to DeepFloyd IF, the emoji cascade and the digit models (fp32 or "
            "bf16; `python main.py doctor` says which this CPU runs fast)")
        menu.setToolTipsVisible(True)


def fp16_runs_on(device: str) -> bool:
    """Whether fp16 is offered on `device` ("cpu", "cuda:0", "mps"...): a GPU only."""
    return not device.startswith("cpu")


def asked_device(device: str, have: dict[str, bool]) -> str:
    """The device a load asked for will run on, before one loads (auto: a GPU if any)."""
    if device != "auto":
        return device
    return next((d for d in ("cuda", "mps") if have.get(d)), "cpu")


def choice_menu(menu: QMenu, labels: dict[str, str], current: str, slot: Any,
                unavailable: dict[str, str] | None = None) -> dict[str, QAction]:
    """One checkable action per choice, exclusive; `unavailable` ones are disabled."""
    group = QActionGroup(menu)
    actions = {}
    for key, label in labels.items():
        action = QAction(label, menu, checkable=True, checked=key == current)
        if unavailable and key in unavailable:
            action.setEnabled(False)
            action.setToolTip(unavailable[key])
        action.triggered.connect(lambda _=False, k=key: slot(k))
        group.addAction(action)
        menu.addAction(action)
        actions[key] = action
    return actions
