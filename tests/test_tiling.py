import pytest
import torch

from gfn_stream.models import tiling
from gfn_stream.models.gfn import GFN
from gfn_stream.models.tiling import auto_tile_side, enhance_tiled, pixel_budget, tile_plan

TINY_OVERLAP = 32  # the tiny net's outputs move by >= 1/255 up to ~26 LR px from a window edge (random init)


@pytest.fixture(scope="module")
def tiny(tiny_config):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many small convs: oversubscribing a shared 2-core box costs more than it gives
    torch.manual_seed(0)
    yield GFN(tiny_config).eval()
    torch.set_num_threads(threads)


def _levels(y: torch.Tensor) -> torch.Tensor:
    return (y.clamp(0, 1) * 255).round()


@pytest.mark.parametrize(
    "h, w, tile, overlap",
    [(48, 40, 16, 8), (37, 29, 16, 0), (61, 45, 16, 5), (5, 7, 4, 2), (100, 1, 16, 24), (33, 64, 64, 3), (1, 1, 1, 0)],
)
def test_tile_plan_covers_every_pixel_exactly(h, w, tile, overlap):
    plan = tile_plan(h, w, tile, overlap)
    owned = torch.zeros(h, w, dtype=torch.int32)
    for t in plan:
        cy0, cy1, cx0, cx1 = t.core
        wy0, wy1, wx0, wx1 = t.window
        owned[cy0:cy1, cx0:cx1] += 1
        assert 0 < cy1 - cy0 <= tile and 0 < cx1 - cx0 <= tile
        assert 0 <= wy0 <= cy0 < cy1 <= wy1 <= h and 0 <= wx0 <= cx0 < cx1 <= wx1 <= w
        # windows start on the 4-px grid and end on it or at the frame edge, with >= overlap of context
        assert wy0 % 4 == 0 and wx0 % 4 == 0
        assert (wy1 % 4 == 0 or wy1 == h) and (wx1 % 4 == 0 or wx1 == w)
        assert wy0 == 0 or cy0 - wy0 >= overlap
        assert wx0 == 0 or cx0 - wx0 >= overlap
        assert wy1 == h or wy1 - cy1 >= overlap
        assert wx1 == w or wx1 - cx1 >= overlap
    assert bool((owned == 1).all())


@pytest.mark.parametrize("h, w, tile", [(48, 40, 16), (37, 29, 16), (61, 45, 16), (83, 70, 32)])
def test_tiled_equals_untiled_within_one_level(tiny, h, w, tile):
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h * w))
    with torch.inference_mode():
        whole = tiny(x)
        tiled = enhance_tiled(tiny, x, tile=tile, overlap=TINY_OVERLAP)
        assert tiled.shape == whole.shape == (1, 3, 4 * h, 4 * w)
        assert (_levels(tiled) - _levels(whole)).abs().max() <= 1
        assert (tiled - whole).abs().max() < 1 / 255
        # the check has teeth: without context the seams are visible
        assert (_levels(enhance_tiled(tiny, x, tile=tile, overlap=4)) - _levels(whole)).abs().max() > 1


def test_feathered_seams_and_batches(tiny):
    x = torch.rand(2, 3, 45, 38, generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        whole = tiny(x)
        tiled = enhance_tiled(tiny, x, tile=16, overlap=TINY_OVERLAP + 4, feather=8)
    assert (_levels(tiled) - _levels(whole)).abs().max() <= 1


def test_window_off_the_4px_grid_would_break_equality(tiny):
    # why tile_plan aligns windows: the same crop shifted by 2 px samples the stride-2 convs at another phase
    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(3))
    region = slice(4 * 60, 4 * 64)  # LR rows/cols 60..63: far beyond the reach from a cut at 2 or 4
    with torch.inference_mode():
        whole = tiny(x)[..., region, region]
        aligned = tiny(x[..., 4:, 4:])[..., region.start - 16 : region.stop - 16, region.start - 16 : region.stop - 16]
        shifted = tiny(x[..., 2:, 2:])[..., region.start - 8 : region.stop - 8, region.start - 8 : region.stop - 8]
    assert (aligned - whole).abs().max() < 1e-4
    assert (shifted - whole).abs().max() > 1 / 255


def test_huge_budget_gives_a_single_tile(tiny, monkeypatch):
    monkeypatch.setattr(tiling, "mem_available", lambda: 1 << 50)
    assert pixel_budget("cpu") > 1920 * 1080 * 100
    assert auto_tile_side(1080, 1920, "cpu", "fp32") == 0
    plan = tile_plan(37, 29, tile=64, overlap=16)
    assert len(plan) == 1 and plan[0].core == plan[0].window == (0, 37, 0, 29)
    calls = []
    x = torch.rand(1, 3, 37, 29)

    def fn(t):
        calls.append(tuple(t.shape))
        return tiny(t)

    with torch.inference_mode():
        out = enhance_tiled(fn, x, tile=64, overlap=16)
        assert torch.equal(out, tiny(x))
    assert calls == [(1, 3, 37, 29)]


def test_small_budget_gives_tiles_whose_windows_fit(monkeypatch):
    monkeypatch.setattr(tiling, "mem_available", lambda: 2 << 30)
    budget = pixel_budget("cpu", "fp32")
    side = auto_tile_side(2160, 3840, "cpu", "fp32", overlap=16)
    assert side > 0 and side % 4 == 0
    biggest = max((t.window[1] - t.window[0]) * (t.window[3] - t.window[2]) for t in tile_plan(2160, 3840, side, 16))
    assert biggest <= budget
    assert pixel_budget("cpu", "bf16") > budget  # bf16 activations are half the size
    assert tiling.default_overlap() == tiling.DEFAULT_OVERLAP >= tiling.GFN_REACH > 0


def test_bad_arguments_are_reported():
    with pytest.raises(ValueError, match="tile plan"):
        tile_plan(10, 10, 0, 4)
    with pytest.raises(ValueError, match="feather"):
        enhance_tiled(lambda t: t, torch.zeros(1, 3, 8, 8), tile=4, overlap=2, feather=5)
    with pytest.raises(ValueError, match="fn returned"):
        enhance_tiled(lambda t: t, torch.zeros(1, 3, 8, 8), tile=4, overlap=0)


def test_enhancer_tiled_path_matches_whole_frame(tiny, tmp_path):
    from gfn_stream.models.enhancer import Enhancer
    from gfn_stream.models.weights import save_weights

    path = save_weights(tiny, tmp_path / "tiny.safetensors")
    frame = (torch.rand(45, 38, 3, generator=torch.Generator().manual_seed(5)) * 255).to(torch.uint8).numpy()
    whole = Enhancer(str(path), device="cpu", precision="fp32", tile=0).enhance(frame)
    tiled = Enhancer(str(path), device="cpu", precision="fp32", tile=16, tile_overlap=TINY_OVERLAP).enhance(frame)
    assert tiled.shape == whole.shape == (180, 152, 3)
    assert abs(tiled.astype(int) - whole.astype(int)).max() <= 1
