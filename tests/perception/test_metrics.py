"""ARI / FG-ARI / MSE against scikit-learn, with the degenerate cases the metric module defines."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score, mean_squared_error

from perception.metrics import adjusted_rand_index, reconstruction_mse, segmentation_scores


def one_hot_masks(pred: torch.Tensor, k: int) -> torch.Tensor:
    """ids [..., H, W] -> masks [..., K, H, W]."""
    return torch.nn.functional.one_hot(pred, k).movedim(-1, -3).float()


@pytest.mark.parametrize("seed", range(20))
def test_ari_matches_sklearn_on_random_labelings(seed):
    rng = np.random.default_rng(seed)
    b, n = 3, int(rng.integers(2, 300))
    true = rng.integers(0, rng.integers(1, 8), (b, n))
    pred = rng.integers(0, rng.integers(1, 8), (b, n))
    if seed % 4 == 0:  # correlated predictions, to cover high scores
        pred = np.where(rng.random((b, n)) < 0.8, true, pred)
    got = adjusted_rand_index(torch.from_numpy(true), torch.from_numpy(pred))
    assert got.dtype == torch.float64
    for i in range(b):
        assert got[i].item() == pytest.approx(adjusted_rand_score(true[i], pred[i]), abs=1e-10)


@pytest.mark.parametrize("seed", range(10))
def test_masked_ari_equals_sklearn_on_the_kept_points(seed):
    rng = np.random.default_rng(100 + seed)
    true = rng.integers(0, 5, (2, 200))
    pred = rng.integers(0, 6, (2, 200))
    valid = true > 0  # foreground only
    got = adjusted_rand_index(torch.from_numpy(true), torch.from_numpy(pred), torch.from_numpy(valid))
    for i in range(2):
        assert got[i].item() == pytest.approx(adjusted_rand_score(true[i][valid[i]], pred[i][valid[i]]), abs=1e-10)


@pytest.mark.parametrize("true, pred, expected", [
    ([0, 0, 0, 0], [1, 1, 1, 1], 1.0),  # one cluster on both sides
    ([0, 1, 2, 3], [3, 2, 1, 0], 1.0),  # every point alone on both sides
    ([0, 0, 0, 0], [0, 0, 1, 1], 0.0),  # one true cluster split in two
    ([0, 1, 2, 3], [0, 0, 1, 1], 0.0),  # singletons merged
    ([5], [2], 1.0),  # one point
])
def test_degenerate_cases_follow_sklearn(true, pred, expected):
    got = adjusted_rand_index(torch.tensor([true]), torch.tensor([pred]))[0].item()
    assert got == expected == pytest.approx(adjusted_rand_score(true, pred))


def test_fg_ari_edge_cases_in_frames():
    h, w, k = 4, 4, 3
    true = torch.zeros(1, 4, h, w, dtype=torch.long)
    pred = torch.zeros(1, 4, h, w, dtype=torch.long)
    # frame 0: no foreground at all
    # frame 1: one object, wholly in slot 2
    true[0, 1, :2, :2] = 1
    pred[0, 1, :2, :2] = 2
    # frame 2: one object split over two slots
    true[0, 2, :2, :2] = 1
    pred[0, 2, :1, :2] = 1
    pred[0, 2, 1:2, :2] = 2
    # frame 3: a single foreground pixel
    true[0, 3, 3, 3] = 2
    pred[0, 3, 3, 3] = 1
    s = segmentation_scores(true, one_hot_masks(pred, k))
    assert s["fg_frame_has_points"].tolist() == [[False, True, True, True]]
    assert s["fg_ari_frame"][0, 1:].tolist() == [1.0, 0.0, 1.0]
    assert s["fg_ari_frame"][0, 0].item() == 1.0  # defined (sklearn: empty -> 1.0) but flagged, and left out
    for f in range(1, 4):
        t, p = true[0, f].flatten().numpy(), pred[0, f].flatten().numpy()
        fg = t > 0
        assert s["fg_ari_frame"][0, f].item() == pytest.approx(adjusted_rand_score(t[fg], p[fg]))
        assert s["ari_frame"][0, f].item() == pytest.approx(adjusted_rand_score(t, p))


def test_per_video_scores_see_identity_switches_that_per_frame_scores_do_not():
    true = torch.zeros(1, 2, 4, 4, dtype=torch.long)
    true[0, :, :2, :2] = 1
    true[0, :, 2:, 2:] = 2
    pred = true.clone()
    pred[0, 1] = torch.where(true[0, 1] == 1, 2, torch.where(true[0, 1] == 2, 1, 0))  # slots swap in frame 1
    s = segmentation_scores(true, one_hot_masks(pred, 3))
    assert s["fg_ari_frame"].tolist() == [[1.0, 1.0]]
    assert s["fg_ari_video"][0].item() < 0.5
    t, p = true.flatten().numpy(), pred.flatten().numpy()
    fg = t > 0
    assert s["fg_ari_video"][0].item() == pytest.approx(adjusted_rand_score(t[fg], p[fg]))
    assert s["ari_video"][0].item() == pytest.approx(adjusted_rand_score(t, p))


def test_batched_scores_match_sklearn_per_frame_and_per_video():
    rng = np.random.default_rng(7)
    true = torch.from_numpy(rng.integers(0, 4, (2, 3, 8, 8)))
    logits = torch.from_numpy(rng.normal(size=(2, 3, 5, 8, 8)))
    s = segmentation_scores(true, logits)
    pred = logits.argmax(2)
    for b in range(2):
        t, p = true[b].flatten().numpy(), pred[b].flatten().numpy()
        assert s["fg_ari_video"][b].item() == pytest.approx(adjusted_rand_score(t[t > 0], p[t > 0]))
        for f in range(3):
            t, p = true[b, f].flatten().numpy(), pred[b, f].flatten().numpy()
            assert s["ari_frame"][b, f].item() == pytest.approx(adjusted_rand_score(t, p))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="matching"):
        adjusted_rand_index(torch.zeros(2, 5, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="non-negative"):
        adjusted_rand_index(torch.tensor([[0, -1]]), torch.tensor([[0, 1]]))
    with pytest.raises(ValueError, match="expected true ids"):
        segmentation_scores(torch.zeros(1, 2, 4, 4, dtype=torch.long), torch.zeros(1, 2, 3, 4, 5))


def test_mse_matches_sklearn():
    rng = np.random.default_rng(3)
    a, b = rng.random((4, 3, 5, 6)), rng.random((4, 3, 5, 6))
    got = reconstruction_mse(torch.from_numpy(a), torch.from_numpy(b))
    for i in range(4):
        assert got[i].item() == pytest.approx(mean_squared_error(a[i].ravel(), b[i].ravel()))
