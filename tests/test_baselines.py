"""Tests for gan_lib.baselines: Lloyd's k-means on separated blobs and the replaying memoriser."""

from __future__ import annotations

import pytest
import torch

from gan_lib.baselines import kmeans, replay

CENTRES = torch.tensor([[-6.0, 0.0], [6.0, 0.0], [0.0, 9.0]])


def blobs(n: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n points around each of CENTRES (std 0.3), and each point's blob label."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(3).repeat_interleave(n)
    return CENTRES[labels] + 0.3 * torch.randn(3 * n, 2, generator=gen), labels


def blob_of(points: torch.Tensor) -> torch.Tensor:
    """Index of the nearest true centre of each point."""
    return torch.cdist(points, CENTRES).argmin(1)


def test_kmeans_recovers_the_blob_means_from_an_init_in_every_blob() -> None:
    """Lloyd's only finds a local optimum, so take the first seed whose initial rows (iters=0) hit all three blobs;
    from there one assignment is already exact, and the centroids are the blobs' sample means."""
    x, labels = blobs()
    seed = next(s for s in range(100) if len(set(blob_of(kmeans(x, 3, 0, s)).tolist())) == 3)
    centroids = kmeans(x, 3, iters=20, seed=seed)
    order = blob_of(centroids)
    assert sorted(order.tolist()) == [0, 1, 2]
    means = torch.stack([x[labels == b].mean(0) for b in order])
    torch.testing.assert_close(centroids, means, rtol=0, atol=1e-5)
    torch.testing.assert_close(centroids, CENTRES[order], rtol=0, atol=0.1)


def test_kmeans_initialises_at_distinct_rows() -> None:
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(1))
    init = kmeans(x, 10, iters=0, seed=4)
    rows = torch.cdist(init, x).argmin(1)
    assert len(set(rows.tolist())) == 10
    torch.testing.assert_close(init, x[rows], rtol=0, atol=0)


def test_kmeans_is_reproducible_from_its_seed() -> None:
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(2))
    a = kmeans(x, 6, iters=10, seed=11)
    assert a.shape == (6, 4) and a.dtype == torch.float32
    assert torch.equal(a, kmeans(x, 6, iters=10, seed=11))
    assert not torch.equal(kmeans(x, 6, iters=0, seed=11), kmeans(x, 6, iters=0, seed=12))


def test_kmeans_does_not_depend_on_the_batch() -> None:
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(3))
    ref = kmeans(x, 6, iters=10, seed=0)
    for batch in (1, 7, 299):
        torch.testing.assert_close(kmeans(x, 6, iters=10, seed=0, batch=batch), ref, rtol=0, atol=1e-6)


def test_kmeans_empty_cluster_keeps_its_centroid() -> None:
    """Two identical rows start two identical centroids; ties go to the first, so the second is empty (not NaN)."""
    x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [10.0, 10.0]])
    centroids = kmeans(x, 3, iters=5, seed=0)
    assert sorted(centroids.tolist()) == [[0.0, 0.0], [0.0, 0.0], [10.0, 10.0]]


def test_kmeans_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    x, _ = blobs(20)
    kmeans(x, 3, iters=2, seed=0)
    assert "k-means" not in capsys.readouterr().err
    kmeans(x, 3, iters=2, seed=0, progress=True)
    assert "k-means" in capsys.readouterr().err


def test_kmeans_rejects_bad_input() -> None:
    x = torch.zeros(5, 2)
    with pytest.raises(ValueError, match=r"k must be between 1 and the number of rows \(5\), got 6"):
        kmeans(x, 6, iters=1, seed=0)
    with pytest.raises(ValueError, match="got 0"):
        kmeans(x, 0, iters=1, seed=0)
    with pytest.raises(ValueError, match="2-D"):
        kmeans(torch.zeros(5), 2, iters=1, seed=0)
    with pytest.raises(ValueError, match="iters must be non-negative"):
        kmeans(x, 2, iters=-1, seed=0)
    with pytest.raises(ValueError, match="batch must be at least 1"):
        kmeans(x, 2, iters=1, seed=0, batch=0)


def test_replay_returns_training_rows() -> None:
    train = torch.arange(40.0).view(20, 2)  # row i is (2i, 2i + 1): every row is distinct
    out = replay(train, 50, seed=0)  # more than len(train): drawn with replacement
    assert out.shape == (50, 2) and out.dtype == train.dtype
    rows = (out[:, 0] / 2).long()
    torch.testing.assert_close(out, train[rows], rtol=0, atol=0)
    assert len(set(rows.tolist())) > 1
    assert torch.equal(out, replay(train, 50, seed=0))
    assert not torch.equal(out, replay(train, 50, seed=1))


def test_replay_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one row"):
        replay(torch.zeros(0, 3), 5, seed=0)
    with pytest.raises(ValueError, match="n must be non-negative"):
        replay(torch.zeros(4, 3), -1, seed=0)
