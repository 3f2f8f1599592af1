"""Run a dataset through a :class:`~maskbench.kernels.dataset_sweep.DatasetSweep`: in process or on Dask.

Not a kernel: it owns the data loading (a ``torch.utils.data.DataLoader``), the progress bar
(``tqdm.auto``: a widget in Jupyter, text elsewhere) and, when given a ``dask.distributed.Client``,
the split of the index range into partitions whose partial sweeps are merged. ``distributed`` is
imported only then (the ``maskbench[dask]`` extra).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from maskbench._checks import ArgumentError, ArgumentTypeError, MaskbenchError, check_int, short_repr
from maskbench._checks.batches import located
from maskbench.kernels.dataset_sweep import DatasetSweep

__all__ = ["sweep_dataset"]


# ---------------------------------------------------------------- items -> stacked groups
def _fail(err: MaskbenchError, index: int, item_id: object) -> MaskbenchError:
    return located(err, f"item {index} (id {short_repr(item_id, 40)})", index, item_id)


def _unpack(item: object, index: int) -> tuple[object, object, object, object]:
    """``(probs, target, ignore, id)`` from a ``(probs, target[, ignore])`` tuple or a dict item."""
    if isinstance(item, dict) and "probs" in item and "target" in item:
        fields = item["probs"], item["target"], item.get("ignore"), item.get("id", index)
    elif isinstance(item, (tuple, list)) and len(item) in (2, 3):
        fields = item[0], item[1], item[2] if len(item) == 3 else None, index
    else:
        got = f"{type(item).__name__} {short_repr(item)}"
        raise _fail(
            ArgumentTypeError(
                f"expected (probs, target), (probs, target, ignore) or a dict with 'probs' and 'target' (and "
                f"optionally 'ignore', 'id'); got {got}.",
                name="item",
                got=got,
            ),
            index,
            index,
        )
    try:
        tensors = [f if f is None or isinstance(f, (torch.Tensor, int)) else torch.as_tensor(f) for f in fields[:3]]
    except (TypeError, ValueError, RuntimeError) as err:
        raise _fail(ArgumentTypeError(f"expected tensors or arrays; {err}", name="item"), index, fields[3]) from None
    return (*tensors, fields[3])


def _key(probs: object, target: object, ignore: object) -> tuple | None:
    """What must agree for items to stack; ``None`` for an item that must go alone (a bad item)."""
    if not all(isinstance(x, torch.Tensor) for x in (probs, target)) or probs.ndim < 2 or target.ndim < 2:
        return None
    if probs.shape[-2:] != target.shape[-2:] or probs.device != target.device:
        return None
    if isinstance(ignore, torch.Tensor) and ignore.device != probs.device:
        return None
    return tuple(
        (tuple(x.shape), x.dtype, x.device) if isinstance(x, torch.Tensor) else x for x in (probs, target, ignore)
    )


def _collate(batch: list[tuple[int, object]]) -> list:
    """Runs of consecutive items that stack, as ``(indices, ids, probs, target, ignore)`` with a batch dim.

    A malformed item becomes its error (raised in the main process, in order); an item whose fields
    disagree goes alone, so that the sweep's error names exactly that item.
    """
    runs: list = []
    last = None
    for index, item in batch:
        try:
            probs, target, ignore, item_id = _unpack(item, index)
        except MaskbenchError as err:
            runs.append(err)
            last = None
            continue
        key = _key(probs, target, ignore)
        if key is not None and key == last:
            runs[-1].append((index, item_id, probs, target, ignore))
        else:
            runs.append([(index, item_id, probs, target, ignore)])
        last = key
    out = []
    for run in runs:
        if isinstance(run, MaskbenchError):
            out.append(run)
            continue
        indices, ids, probs, target, ignore = (list(col) for col in zip(*run))
        if len(run) == 1:  # no copy: a batch-of-one view (also for items the sweep will reject)
            stacked = [x[None] if isinstance(x, torch.Tensor) else x for x in (probs[0], target[0], ignore[0])]
        else:
            stacked = [torch.stack(x) if isinstance(x[0], torch.Tensor) else x[0] for x in (probs, target, ignore)]
        out.append((indices, ids, *stacked))
    return out


class _Indexed(Dataset):
    """``(i, dataset[i])`` for ``i`` in ``[start, stop)``."""

    def __init__(self, dataset: Sequence, start: int, stop: int) -> None:
        self.dataset, self.start, self.stop = dataset, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> tuple[int, object]:
        return self.start + i, self.dataset[self.start + i]


class _Enumerated(IterableDataset):
    def __init__(self, iterable: Iterable) -> None:
        self.iterable = iterable

    def __iter__(self):
        return iter(enumerate(self.iterable))


# ---------------------------------------------------------------- in process
def _run(loader: DataLoader, sweep: DatasetSweep, device: torch.device | None, bar) -> DatasetSweep:
    for runs in loader:
        for run in runs:
            if isinstance(run, MaskbenchError):
                run.sweep = sweep
                raise run
            indices, ids, probs, target, ignore = run
            if device is not None:
                probs, target = probs.to(device), target.to(device)
                ignore = ignore.to(device) if isinstance(ignore, torch.Tensor) else ignore
            try:
                sweep._update(probs, target, ignore, ids, indices, True)
            except MaskbenchError as err:
                err.sweep = sweep  # intact: the caller can skip the item and go on
                raise
            if bar is not None:
                bar.update(len(indices))
    return sweep


def _options(thresholds, num_classes, per_image) -> dict:
    return {"thresholds": thresholds, "num_classes": num_classes, "per_image": per_image}


def _sweep_range(dataset, start: int, stop: int, *, options: dict, batch_size: int, num_workers: int, device, bar):
    loader = DataLoader(
        _Indexed(dataset, start, stop), batch_size=batch_size, num_workers=num_workers, collate_fn=_collate
    )
    return _run(loader, DatasetSweep(**options), device, bar)


def _partition(dataset, start: int, stop: int, options: dict, batch_size: int, num_workers: int, device):
    """One Dask task: the sweep of ``dataset[start:stop]``, returned on the CPU."""
    if multiprocessing.current_process().daemon:
        num_workers = 0  # daemonic Dask worker processes cannot start DataLoader workers
    device = None if device is None else torch.device(device)
    sweep = _sweep_range(
        dataset, start, stop, options=options, batch_size=batch_size, num_workers=num_workers, device=device, bar=None
    )
    return sweep if sweep.device is None or sweep.device.type == "cpu" else sweep.to("cpu")


def _merge_all(sweeps: list[DatasetSweep]) -> DatasetSweep:
    """Merge in order, pairwise (a tree: each per-image count is copied O(log P) times, not O(P))."""
    while len(sweeps) > 1:
        sweeps = [
            sweeps[i].merge(sweeps[i + 1]) if i + 1 < len(sweeps) else sweeps[i] for i in range(0, len(sweeps), 2)
        ]
    return sweeps[0]


def _on_dask(client, dataset, n: int, *, options, batch_size, num_workers, device, partitions, bar) -> DatasetSweep:
    from distributed import as_completed  # the optional extra, imported only here

    workers = max(1, len(client.scheduler_info().get("workers", {})))
    parts = min(n, partitions or 4 * workers) or 1
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    # sent once per worker, not once per task; under a key of its own (hash=False): the same dataset
    # scattered again by the next call must not share the key this call cancels at its end (a race
    # that failed the next call's tasks with "lost dependencies")
    [remote] = client.scatter([dataset], broadcast=True, hash=False)
    dev = None if device is None else str(device)
    futures = [
        client.submit(_partition, remote, a, b, options, batch_size, num_workers, dev, pure=False)
        for a, b in zip(bounds[:-1], bounds[1:])
    ]
    sizes = {f.key: b - a for f, a, b in zip(futures, bounds[:-1], bounds[1:])}
    try:
        for future in as_completed(futures):
            if future.status == "error":
                future.result()  # raises the task's error (the message names the item)
            if bar is not None:
                bar.update(sizes[future.key])
        sweep = _merge_all(client.gather(futures))
    finally:
        client.cancel(futures + [remote])
    return sweep if device is None else sweep.to(device)


def sweep_dataset(
    dataset: Dataset | Iterable,
    *,
    thresholds: int | torch.Tensor = 256,
    batch_size: int = 8,
    num_workers: int = 0,
    device: torch.device | str | None = None,
    client=None,
    progress: bool = True,
    num_classes: int | None = None,
    per_image: bool = True,
    partitions: int | None = None,
) -> DatasetSweep:
    """Sweep every threshold over a dataset in one pass: pooled and per-image counts.

    Args:
        dataset: a ``torch.utils.data.Dataset`` (or any sequence with ``len`` and ``[i]``) or an
            iterable. Items are ``(probs, target)``, ``(probs, target, ignore)`` or dicts with
            ``"probs"``, ``"target"`` and optionally ``"ignore"`` and ``"id"``; each item is one
            image, ``(H, W)`` or ``(1, H, W)`` (``(K, H, W)`` with ``num_classes``; see
            :meth:`DatasetSweep.update` for dtypes). Images may differ in size. Ids default to the
            dataset index.
        thresholds: an int ``T`` (``torch.linspace(0, 1, T)``) or a 1-D ascending tensor.
        batch_size, num_workers: for the ``DataLoader`` (a plain iterable needs ``num_workers=0``).
        device: where the counting runs (e.g. ``"cuda"``); default: where the items are.
        client: a ``dask.distributed.Client``: the index range is split into ``partitions``
            (default 4 per worker), each worker sweeps its part with its own DataLoader (the
            dataset must pickle), and the partial sweeps are merged in index order: the result is
            identical to the in-process run.
        progress: show a ``tqdm.auto`` progress bar (images).
        num_classes, per_image: as :class:`DatasetSweep`.

    Returns:
        The :class:`DatasetSweep` (on ``device``; on the CPU after a Dask run without ``device``).

    Raises:
        MaskbenchError naming the bad item's dataset index and id (in process, the sweep of the
        items before it is attached as ``err.sweep``).

    Example:
        >>> data = [(torch.tensor([[0.2, 0.9]]), torch.tensor([[False, True]])),
        ...         (torch.tensor([[0.6, 0.4]]), torch.tensor([[True, True]]))]
        >>> sweep = sweep_dataset(data, thresholds=3, progress=False)
        >>> sweep.ids, sweep.pooled.tp
        ([0, 1], tensor([3, 2, 0]))
    """
    check_int(batch_size, "batch_size", min_value=1)
    check_int(num_workers, "num_workers", min_value=0)
    if partitions is not None:
        check_int(partitions, "partitions", min_value=1)
    options = _options(thresholds, num_classes, per_image)
    DatasetSweep(**options)  # validate the options before loading anything
    device = None if device is None else torch.device(device)
    indexable = (
        not isinstance(dataset, IterableDataset) and hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")
    )
    if not indexable and not hasattr(dataset, "__iter__"):
        got = f"{type(dataset).__name__} {short_repr(dataset)}"
        raise ArgumentTypeError(
            f"dataset: expected a torch Dataset, a sequence (len and [i]) or an iterable of (probs, target) "
            f"items; got {got}. Pass e.g. a list of (probs, target) pairs.",
            name="dataset",
            expected="a Dataset, sequence or iterable",
            got=got,
        )
    if client is not None and not indexable:
        raise ArgumentTypeError(
            f"dataset: client= needs a map-style dataset (len and [i]) to split into partitions; got "
            f"{type(dataset).__name__}. Wrap the items in a list, or run without a client.",
            name="dataset",
        )
    if not indexable and num_workers:
        raise ArgumentError(
            f"num_workers: a plain iterable ({type(dataset).__name__}) cannot be shared between DataLoader workers; "
            f"got num_workers={num_workers}. Pass num_workers=0, or a map-style Dataset.",
            name="num_workers",
        )
    from tqdm.auto import tqdm

    total = len(dataset) if hasattr(dataset, "__len__") else None
    with tqdm(total=total, disable=not progress, unit="img", desc="sweep_dataset") as bar:
        if client is not None:
            return _on_dask(
                client,
                dataset,
                total,
                options=options,
                batch_size=batch_size,
                num_workers=num_workers,
                device=device,
                partitions=partitions,
                bar=bar,
            )
        if indexable:
            return _sweep_range(
                dataset,
                0,
                total,
                options=options,
                batch_size=batch_size,
                num_workers=num_workers,
                device=device,
                bar=bar,
            )
        loader = DataLoader(_Enumerated(dataset), batch_size=batch_size, num_workers=0, collate_fn=_collate)
        return _run(loader, DatasetSweep(**options), device, bar)
