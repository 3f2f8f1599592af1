"""maskbench's three widgets in marimo: `marimo edit notebooks/marimo_tour.py` (or `marimo run`).

Each widget is wrapped with `mo.ui.anywidget`; a cell that reads `<name>_ui.value[...]` re-runs when
that synced value changes in the browser. The kernel keeps the truth (the Painter's full-resolution
mask, the Tuner's mask and metrics, the Viewer's result): the readout cells show it.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import json
    import os

    import marimo as mo

    import maskbench as mb
    from maskbench.widgets import Painter, ThresholdTuner, Viewer

    SMALL = os.environ.get("MASKBENCH_SMALL") == "1"  # the tests shrink inputs
    return Painter, SMALL, ThresholdTuner, Viewer, json, mb, mo


@app.cell
def _(mo):
    mo.md("""
    # maskbench in marimo

    Paint a mask, tune a threshold, look at masked results. The same widgets as in JupyterLab,
    wrapped with `mo.ui.anywidget`. Tools: **B** brush, **E** eraser, **F** fill, **L** lasso,
    **Ctrl+Z** undo, wheel to zoom.
    """)
    return


@app.cell
def _(Painter, mb, mo):
    coins = mb.sample_image("coins")  # (1, H, W) float32 in [0, 1]
    painter = Painter(coins, classes={"background": None, "coin": "#e69f00", "scratch": "#56b4e9"})
    painter_ui = mo.ui.anywidget(painter)
    painter_ui
    return painter, painter_ui


@app.cell
def _(json, mo, painter, painter_ui):
    # Reads the Painter's change counter, so marimo re-runs this cell after every edit in the browser.
    _version = painter_ui.value.get("mask_version")
    _counts = {name: int(painter.mask_of(name).sum()) for name in painter.class_names[1:]}
    mo.md(f"painted pixels: `{json.dumps({'version': _version, **_counts})}`")
    return


@app.cell
def _(SMALL, ThresholdTuner, mb, mo):
    scene = mb.synthetic_scene(128 if SMALL else 256, seed=3)
    tuner = ThresholdTuner(scene.probs, image=scene.image, target=scene.mask)
    tuner_ui = mo.ui.anywidget(tuner)
    tuner_ui
    return scene, tuner, tuner_ui


@app.cell
def _(json, mo, tuner, tuner_ui):
    # Re-runs when the slider moves: the browser's value and the kernel's threshold, mask and IoU.
    _state = {"slider": tuner_ui.value["threshold"], "kernel": tuner.threshold, "iou": round(tuner.metrics["iou"], 4)}
    mo.md(f"tuner: `{json.dumps(_state)}`")
    return


@app.cell
def _(Viewer, mo, scene):
    viewer = Viewer(scene.image, scene.mask, mode="keep", contours=True)
    viewer_ui = mo.ui.anywidget(viewer)
    viewer_ui
    return viewer, viewer_ui


@app.cell
def _(json, mo, scene, viewer, viewer_ui):
    # Re-runs when the mode changes in the browser; the result is computed in the kernel.
    _replaced = ~scene.mask if viewer.mode == "keep" else scene.mask
    _state = {"browser": viewer_ui.value["mode"], "kernel": viewer.mode,
              "replaced_mean": round(float(viewer.result[:, _replaced].mean()), 4)}  # fmt: skip
    mo.md(f"viewer: `{json.dumps(_state)}`")
    return


@app.cell
def _(mo):
    refresh = mo.ui.button(label="Read the kernel")
    refresh
    return (refresh,)


@app.cell
def _(json, mo, painter, refresh):
    # State the kernel changes by itself (undo flags, edit timing) re-runs nothing: read it on demand.
    refresh
    _state = {"painted": int((painter.mask > 0).sum()), "can_undo": painter.can_undo,
              "last_edit_ms": round(painter.last_edit_ms, 2)}  # fmt: skip
    mo.md(f"kernel: `{json.dumps(_state)}`")
    return


if __name__ == "__main__":
    app.run()
