"""maskbench: image masks in deep learning you can see, touch and measure.

Kernels are pure, device-agnostic torch functions; ``maskbench.render`` turns tensors into pixels;
``maskbench.widgets`` holds the JupyterLab panels (imported explicitly, never from here).

Glossary
--------
mask
    A tensor that selects pixels. A **bool** mask keeps pixels where it is True. A **floating**
    mask is a weight in [0, 1] (``image * w + fill * (1 - w)``). Integer masks are rejected, never
    guessed (0/1 or 0/255?). Spatial masks are ``(H, W)``, ``(1, H, W)``, ``(B, H, W)`` or
    ``(B, 1, H, W)`` and broadcast over channels; see each function for the shapes it accepts.
labels
    An integer ``(H, W)`` or ``(B, H, W)`` map of class indices in ``[0, num_classes)``.
sync-free
    Runs on CUDA without a GPU->CPU synchronisation (safe under
    ``torch.cuda.set_sync_debug_mode("error")`` and in CUDA graphs). Functions whose output size
    depends on the data (e.g. boolean extraction) say so in their docstring.

Importing maskbench imports torch and numpy only: a training script can use the kernels without
the Jupyter stack. Public names are loaded lazily on first use.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> submodule that defines it (lazy, so `import maskbench` stays light)
_EXPORTS: dict[str, str] = {
    # errors
    "MaskbenchError": "maskbench._checks",
    "ArgumentError": "maskbench._checks",
    "ArgumentTypeError": "maskbench._checks",
    "ShapeError": "maskbench._checks",
    "DTypeError": "maskbench._checks",
    "DeviceError": "maskbench._checks",
    "MaskValueError": "maskbench._checks",
    "CastError": "maskbench._checks",
    # apply / assign / extract / reduce
    "apply_mask": "maskbench.kernels.apply",
    "inpaint": "maskbench.kernels.apply",
    "assign_where": "maskbench.kernels.assign",
    "extract_pixels": "maskbench.kernels.extract",
    "extract_classes": "maskbench.kernels.extract",
    "Pixels": "maskbench.kernels.extract",
    "PaddedPixels": "maskbench.kernels.extract",
    "ClassPixels": "maskbench.kernels.extract",
    "class_stats": "maskbench.kernels.extract",
    "ClassStats": "maskbench.kernels.extract",
    "masked_sum": "maskbench.kernels.reduce",
    "masked_mean": "maskbench.kernels.reduce",
    "masked_std": "maskbench.kernels.reduce",
    # thresholds
    "threshold": "maskbench.kernels.threshold",
    "threshold_otsu": "maskbench.kernels.threshold",
    "threshold_li": "maskbench.kernels.threshold_li_multiotsu",
    "threshold_yen": "maskbench.kernels.threshold",
    "threshold_triangle": "maskbench.kernels.threshold",
    "threshold_mean": "maskbench.kernels.threshold",
    "threshold_isodata": "maskbench.kernels.threshold",
    "threshold_multiotsu": "maskbench.kernels.threshold_li_multiotsu",
    "auto_threshold": "maskbench.kernels.threshold",
    "THRESHOLD_METHODS": "maskbench.kernels.threshold",
    "histogram": "maskbench.kernels.threshold",
    "argmax_labels": "maskbench.kernels.labels",
    "hysteresis_threshold": "maskbench.kernels.components",
    # metrics and sweeps
    "confusion_counts": "maskbench.kernels.confusion",
    "iou": "maskbench.kernels.metrics",
    "dice": "maskbench.kernels.metrics",
    "precision": "maskbench.kernels.metrics",
    "recall": "maskbench.kernels.metrics",
    "f1": "maskbench.kernels.metrics",
    "Confusion": "maskbench.kernels.confusion",
    "scores_from_counts": "maskbench.kernels.metrics",
    "threshold_sweep": "maskbench.kernels.sweep",
    "ThresholdSweep": "maskbench.kernels.sweep",
    "SweepResult": "maskbench.kernels.sweep",
    "DatasetSweep": "maskbench.kernels.dataset_sweep",
    "sweep_dataset": "maskbench.sweep_dataset",
    # losses
    "masked_loss": "maskbench.kernels.losses",
    "masked_bce_with_logits": "maskbench.kernels.losses",
    "masked_cross_entropy": "maskbench.kernels.losses",
    "masked_mse": "maskbench.kernels.losses",
    "masked_l1": "maskbench.kernels.losses",
    "dice_loss": "maskbench.kernels.losses",
    "MaskedBCEWithLogitsLoss": "maskbench.kernels.loss_modules",
    "MaskedCrossEntropyLoss": "maskbench.kernels.loss_modules",
    "MaskedMSELoss": "maskbench.kernels.loss_modules",
    "MaskedL1Loss": "maskbench.kernels.loss_modules",
    "DiceLoss": "maskbench.kernels.loss_modules",
    # morphology
    "dilate": "maskbench.kernels.morphology",
    "erode": "maskbench.kernels.morphology",
    "opening": "maskbench.kernels.morphology",
    "closing": "maskbench.kernels.morphology",
    "label_components": "maskbench.kernels.components",
    "remove_small_objects": "maskbench.kernels.components",
    "fill_holes": "maskbench.kernels.components",
    # painting (rasterisers used by the Painter widget)
    "stroke_mask": "maskbench.kernels.paint",
    "polygon_mask": "maskbench.kernels.paint",
    "flood_fill_mask": "maskbench.kernels.paint",
    # io
    "one_hot": "maskbench.kernels.labels",
    "from_one_hot": "maskbench.kernels.labels",
    "rle_encode": "maskbench.io",
    "rle_decode": "maskbench.io",
    "load_image": "maskbench.io",
    "load_mask": "maskbench.io",
    "save_mask": "maskbench.io",
    "as_tensor": "maskbench.io",
    # data
    "sample_image": "maskbench.data",
    "SAMPLE_IMAGES": "maskbench.data",
    "synthetic_scene": "maskbench.data",
    "Scene": "maskbench.data",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'maskbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
