"""gfn-make-dataset on tiny fake data made here: a GOPRO_Large-layout folder and a folder of photos."""

import json

import numpy as np
import pytest

from gfn_stream.train.dataset import PatchDataset, list_pairs, make_batch, read_rgb, write_rgb
from gfn_stream.train.imresize import imresize, to_uint8
from gfn_stream.train.make_dataset import main, matlab_gradient_magnitude, patch_positions


def _photo(h, w, seed, flat=False):
    rng = np.random.default_rng(seed)
    if flat:
        return np.full((h, w, 3), 120, np.uint8)
    small = rng.random((h // 8 + 1, w // 8 + 1, 3))
    img = np.kron(small, np.ones((8, 8, 1)))[:h, :w]  # blocky texture: strong gradients, still compressible
    return (img * 255).astype(np.uint8)


@pytest.fixture()
def gopro(tmp_path):
    root = tmp_path / "GOPRO_Large"
    for split, seqs in (("train", 2), ("test", 1)):
        for s in range(seqs):
            for f in range(2 if split == "train" else 1):
                sharp = _photo(272, 400, seed=10 * s + f, flat=(split == "train" and s == 1 and f == 1))
                blurry = np.roll(sharp, 2, axis=1)
                write_rgb(root / split / f"SEQ_{s}" / "sharp" / f"{f:06d}.png", sharp)
                write_rgb(root / split / f"SEQ_{s}" / "blur_gamma" / f"{f:06d}.png", blurry)
    return root


def test_matlab_gradient():
    ramp = np.tile(np.arange(5, dtype=float), (4, 1))  # d/dx = 1 everywhere (one-sided at the ends too)
    assert matlab_gradient_magnitude(ramp) == pytest.approx(1.0)
    assert matlab_gradient_magnitude(np.ones((6, 6, 3))) == 0.0
    assert patch_positions(400, 272, 256, 128) == [(0, 0), (128, 0)]


def test_gopro_patches_and_test_set(gopro, tmp_path):
    out = tmp_path / "lr-gopro"
    main(["gopro", "--src", str(gopro), "--out", str(out), "--scales", "1.0", "0.7"])
    info = json.loads((out / "make_dataset.json").read_text())
    # per textured pair: scale 1.0 (272x400) -> 1x2 patch slots, 0.7 (191x280 -> 188x280) -> 0; one pair is flat
    assert info["splits"]["train"] == {"pairs": 4, "patches": 3 * 2}
    ds = PatchDataset(out / "train")
    assert len(ds) == 6
    lr_blur, lr_sharp, hr = ds[0]
    assert lr_blur.shape == (64, 64, 3) and lr_sharp.shape == (64, 64, 3) and hr.shape == (256, 256, 3)
    sharp = read_rgb(gopro / "train" / "SEQ_0" / "sharp" / "000000.png")
    np.testing.assert_array_equal(hr, sharp[:256, :256])
    np.testing.assert_array_equal(lr_sharp, to_uint8(imresize(sharp[:256, :256], 0.25)))
    blurry = read_rgb(gopro / "train" / "SEQ_0" / "blur_gamma" / "000000.png")
    np.testing.assert_array_equal(lr_blur, to_uint8(imresize(blurry[:256, :256], 0.25)))
    # test set: modcrop 16 (272x400 stays), LR = imresize(blur, 1/4), numbered 0001...
    pairs = list_pairs(out / "test")
    assert [p.name for p, _ in pairs] == ["0001.png"]
    assert read_rgb(pairs[0][0]).shape == (68, 100, 3) and read_rgb(pairs[0][1]).shape == (272, 400, 3)
    # shards load without pickle
    for f in (out / "train").glob("*.npy"):
        np.load(f, allow_pickle=False)


def test_synthetic_with_holdout(tmp_path):
    photos = tmp_path / "photos"
    for i in range(3):
        write_rgb(photos / f"p{i}.png", _photo(300, 260, seed=i))
    out = tmp_path / "synth"
    main(["synthetic", "--photos", str(photos), "--out", str(out), "--holdout", "p2", "--scales", "1.0",
          "--seed", "5", "--val-max-size", "128", "192", "--max-extent", "8"])
    info = json.loads((out / "make_dataset.json").read_text())
    assert info["seed"] == 5 and info["holdout"][0].endswith("p2.png")
    assert info["counts"]["train_patches"] == 2 and info["counts"]["val_images"] == 1
    assert info["blur"]["max_extent"] == 8
    ds = PatchDataset(out / "train")
    lr_blur, lr_sharp, hr = ds[1]
    assert not np.array_equal(lr_blur, lr_sharp)  # blurred
    np.testing.assert_array_equal(lr_sharp, to_uint8(imresize(hr, 0.25)))
    (lr_path, hr_path), = list_pairs(out / "val")
    assert lr_path.name == "p2.png"
    assert read_rgb(hr_path).shape == (192, 128, 3) and read_rgb(lr_path).shape == (48, 32, 3)  # portrait crop
    # same seed, same data
    out2 = tmp_path / "synth2"
    main(["synthetic", "--photos", str(photos), "--out", str(out2), "--holdout", "p2", "--scales", "1.0",
          "--seed", "5", "--val-max-size", "128", "192", "--max-extent", "8"])
    np.testing.assert_array_equal(PatchDataset(out2 / "train")[1][0], lr_blur)
    # --sharp-prob 1: no patch is blurred (the LR input is the LR sharp target)
    out3 = tmp_path / "synth3"
    main(["synthetic", "--photos", str(photos), "--out", str(out3), "--holdout", "p2", "--scales", "1.0",
          "--seed", "5", "--max-extent", "8", "--sharp-prob", "1"])
    ds3 = PatchDataset(out3 / "train")
    assert all(np.array_equal(ds3[i][0], ds3[i][1]) for i in range(len(ds3)))


def test_batches_are_aligned_and_reproducible(tmp_path):
    from gfn_stream.train.dataset import ShardWriter

    w = ShardWriter(tmp_path / "set", hr_size=32, shard_size=3)
    rng = np.random.default_rng(0)
    for _ in range(5):
        hr = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
        lr = hr[::4, ::4].copy()  # nearest: LR pixel (y, x) is HR pixel (4y, 4x)
        w.add(lr, lr, hr)
    assert w.close()["count"] == 5
    ds = PatchDataset(tmp_path / "set")
    assert len(ds) == 5 and len(ds.arrays) == 2
    b1 = make_batch(ds, np.array([0, 4, 2]), np.random.default_rng(1), patch_size=16)
    b2 = make_batch(ds, np.array([0, 4, 2]), np.random.default_rng(1), patch_size=16)
    assert b1.lr_blur.shape == (3, 3, 4, 4) and b1.hr.shape == (3, 3, 16, 16)
    assert all(a.equal(b) for a, b in zip((b1.lr_blur, b1.hr), (b2.lr_blur, b2.hr)))
    # crops, flips and rotations keep LR and HR aligned (flips/rot90 of a nearest grid map corners consistently)
    import torch

    for k in range(3):
        lr, hr = b1.lr_blur[k], b1.hr[k]
        down = torch.stack([hr[:, ::4, ::4], hr[:, 3::4, ::4], hr[:, ::4, 3::4], hr[:, 3::4, 3::4]])
        assert any(torch.equal(lr, d) for d in down)


def test_video_frame_average(tmp_path):
    import cv2

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (96, 80))
    base = _photo(80, 160, seed=3)
    for t in range(14):
        writer.write(np.ascontiguousarray(base[:, 2 * t : 2 * t + 96, ::-1]))  # a pan, 2 px per frame
    writer.release()
    if not path.is_file() or path.stat().st_size == 0:
        pytest.skip("this OpenCV build cannot write MJPG AVI")
    out = tmp_path / "vid"
    main(["synthetic", "--video", str(path), "--out", str(out), "--scales", "1.0", "--hr-size", "64",
          "--stride", "16", "--video-min-frames", "5", "--video-max-frames", "5", "--video-every", "5"])
    info = json.loads((out / "make_dataset.json").read_text())
    # 14 frames -> groups of 5 starting at 0, 5 -> 2 blurry frames, each 80x96 -> 2x3 patches of 64 at stride 16
    assert info["counts"]["per_source"]["clip.avi"] == 2 * 2 * 3
    lr_blur, lr_sharp, hr = PatchDataset(out / "train")[0]
    assert lr_blur.shape == (16, 16, 3) and hr.shape == (64, 64, 3)
    assert np.abs(lr_blur.astype(int) - lr_sharp.astype(int)).mean() > 2  # the pan blurred it
