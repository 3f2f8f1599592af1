"""sweep_dataset: the same counts as DatasetSweep fed by hand, in process and on a 2-worker Dask cluster."""

from __future__ import annotations

import logging

import pytest
import torch

from maskbench import DatasetSweep, MaskValueError, ShapeError, sweep_dataset
from maskbench._checks import ArgumentError, ArgumentTypeError, MaskbenchError


def make_items(n: int = 11, seed: int = 0) -> list:
    """Images of three sizes in every item layout: (probs, target), (probs, target, ignore), dicts."""
    gen = torch.Generator().manual_seed(seed)
    items = []
    for i in range(n):
        h, w = 6 + i % 3, 5
        probs, target = torch.rand(h, w, generator=gen), torch.rand(h, w, generator=gen) > 0.5
        if i % 4 == 1:
            items.append((probs[None], target, torch.rand(h, w, generator=gen) > 0.7))
        elif i % 4 == 2:
            items.append({"probs": probs, "target": target[None], "id": f"img{i}"})
        else:
            items.append((probs.numpy(), target) if i % 4 == 3 else (probs, target))
    return items


def by_hand(items, thresholds=9) -> DatasetSweep:
    sweep = DatasetSweep(thresholds)
    for i, item in enumerate(items):
        if isinstance(item, dict):
            probs, target, ignore, item_id = item["probs"], item["target"], None, item["id"]
        else:
            probs, target, ignore, item_id = (*item, None)[:3] + (i,)
        probs = torch.as_tensor(probs)
        sweep.update(probs.reshape(1, *probs.shape[-2:]), target.reshape(1, *probs.shape[-2:]), ignore=ignore,
                     ids=[item_id])  # fmt: skip
    return sweep


def same(a: DatasetSweep, b: DatasetSweep) -> bool:
    fields = ("tp", "fp", "fn", "tn")
    return (
        a.ids == b.ids
        and all(torch.equal(getattr(a.pooled, f), getattr(b.pooled, f)) for f in fields)
        and all(torch.equal(getattr(a.per_image, f), getattr(b.per_image, f)) for f in fields)
    )


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_equals_feeding_the_sweep_by_hand(batch_size) -> None:
    items = make_items()
    result = sweep_dataset(items, thresholds=9, batch_size=batch_size, progress=False)
    assert same(result, by_hand(items))
    assert result.ids[2] == "img2" and result.ids[3] == 3


def test_plain_iterable_and_dataloader_workers() -> None:
    items = make_items(7)
    expected = by_hand(items)
    assert same(sweep_dataset(iter(items), thresholds=9, progress=False), expected)
    assert same(sweep_dataset(items, thresholds=9, num_workers=1, batch_size=2, progress=False), expected)
    with pytest.raises(ArgumentError, match="num_workers=0"):
        sweep_dataset(iter(items), num_workers=2, progress=False)


def test_device_option(device) -> None:
    items = make_items(5)
    result = sweep_dataset(items, thresholds=9, device=device, progress=False)
    assert result.device.type == device.type
    assert same(result.to("cpu"), by_hand(items))


def test_progress_bar_only_when_asked(capsys) -> None:
    sweep_dataset(make_items(3), thresholds=5, progress=False)
    assert capsys.readouterr().err == ""
    sweep_dataset(make_items(3), thresholds=5, progress=True)
    assert "3/3" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("bad", "error", "text"),
    [
        ("shape", ShapeError, "item 5 (id 5): target: expected"),
        ("nan", MaskValueError, "item 5 (id 5): probs: expected finite"),
        ("nonbinary", MaskValueError, "item 6 (id 'img6'): target: expected a binary mask"),
        ("layout", ArgumentTypeError, "item 5 (id 5): expected (probs, target)"),
    ],
)
def test_bad_item_named_by_dataset_index_and_id(bad, error, text) -> None:
    items = make_items(9)
    if bad == "shape":
        items[5] = (items[5][0], items[5][1][:3])
    elif bad == "nan":
        items[5][0][0, 0] = float("nan")
    elif bad == "nonbinary":
        items[6]["target"] = items[6]["target"].to(torch.uint8) * 255
    elif bad == "layout":
        items[5] = items[5][0]
    with pytest.raises(error) as info:
        sweep_dataset(items, thresholds=9, batch_size=4, progress=False)
    assert isinstance(info.value, MaskbenchError) and text in str(info.value)
    partial = info.value.sweep  # the images before the bad one, intact
    bad_index = 6 if bad == "nonbinary" else 5
    assert isinstance(partial, DatasetSweep) and 4 <= len(partial) <= bad_index
    assert same(partial, by_hand(items[: len(partial)]))


@pytest.mark.dask
def test_dask_cluster_gives_the_in_process_result(monkeypatch) -> None:
    distributed = pytest.importorskip("distributed")
    items = make_items(23)
    expected = sweep_dataset(items, thresholds=9, batch_size=4, progress=False)
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        result = sweep_dataset(items, thresholds=9, batch_size=4, client=client, partitions=5, progress=False)
        assert same(result, expected)
        # the same dataset again at once, while the last call's scattered copy is being released: each call
        # scatters it under a key of its own (a shared key let that release cancel the next call's tasks)
        keys, scatter = [], client.scatter
        monkeypatch.setattr(client, "scatter", lambda *a, **k: keys.extend(scatter(*a, **k)) or keys[-1:])
        for _ in range(3):
            assert same(sweep_dataset(items, thresholds=9, batch_size=4, client=client, progress=False), expected)
        assert len({f.key for f in keys}) == 3
        monkeypatch.undo()
        items[17] = (items[17][0], items[17][1][:2])
        with pytest.raises(ShapeError, match=r"item 17 \(id 17\)"):
            sweep_dataset(items, thresholds=9, client=client, progress=False)
    with pytest.raises(ArgumentTypeError, match="map-style"):
        sweep_dataset(iter(items), client=object(), progress=False)


def test_benchmark_peer_computes_the_same_curve() -> None:
    """The torchmetrics row is a fair comparison: the same recall curve (tie-free data, where >= and > agree)."""
    pytest.importorskip("torchmetrics")
    from benchmarks.cases_dataset import torchmetrics_pass

    gen = torch.Generator().manual_seed(3)
    probs = (torch.randint(0, 1000, (10, 12, 12), generator=gen).float() + 0.5) / 1000  # never on k / 255
    target = torch.rand(10, 12, 12, generator=gen) > 0.5
    dataset = torch.utils.data.TensorDataset(probs, target)
    _, recall, _ = torchmetrics_pass(dataset, torch.device("cpu"))
    ours = sweep_dataset(dataset, thresholds=256, progress=False).scores("recall")
    torch.testing.assert_close(recall[:-1].float(), ours.float())
