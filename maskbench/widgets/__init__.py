"""JupyterLab panels: ``from maskbench.widgets import Painter, ThresholdTuner, Viewer``.

Widgets only wire state to maskbench's kernels and renderers; their front ends are the files in
``static/``. Imported lazily so that importing one widget does not build the others.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "LossExplorer": "maskbench.widgets.loss_explorer",
    "Painter": "maskbench.widgets.painter",
    "ThresholdTuner": "maskbench.widgets.tuner",
    "Viewer": "maskbench.widgets.viewer",
    "WidgetMemoryError": "maskbench.widgets._memory",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'maskbench.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
