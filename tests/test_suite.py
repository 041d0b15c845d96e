"""The quality suite, tiny: built from generated photos and clips, scored through the Enhancer, gfn-eval CLI."""

import json

import cv2
import numpy as np
import pytest

from gfn_stream.models.enhancer import Enhancer
from gfn_stream.train.evaluate import main
from gfn_stream.train.imresize import imresize, to_uint8
from gfn_stream.train.metrics import psnr
from gfn_stream.train.suite import CONDITIONS, build_suite, load_suite, score, table, temporal_error
from media import make_clip


def _texture(h, w, seed):
    rng = np.random.default_rng(seed)
    return to_uint8(np.clip(imresize(rng.random((h // 8, w // 8, 3)), 8.0), 0, 1))


@pytest.fixture(scope="module")
def material(tmp_path_factory, tiny_weights):
    root = tmp_path_factory.mktemp("suite_material")
    for i in range(3):
        cv2.imwrite(str(root / f"photo{i}.png"), _texture(96, 128, i)[..., ::-1])
    big = _texture(64, 96 + 40, 9)
    clip = make_clip(root / "pan.mp4", width=96, height=64, frames=14, lossless=True,
                     image=lambda i: big[:, 3 * i : 3 * i + 96]).path
    suite = build_suite(root / "suite", [str(root)], ["photo0", "photo2"], str(clip), str(clip), video_frames=6,
                        blur_start=2)
    return root, suite, tiny_weights


def test_build_writes_every_condition_from_the_held_out_material(material):
    root, info, _ = material
    assert set(info["conditions"]) == set(CONDITIONS)
    suite = load_suite(root / "suite")
    assert [n for n, _, _ in suite["sharp"]] == ["photo0", "photo2"]  # only the named photos
    assert len(suite["video_blur"]) == len(suite["video_h264"]) == 6
    for cond, items in suite.items():
        for _, lr, hr in items:
            assert hr.shape[:2] == (4 * lr.shape[0], 4 * lr.shape[1]), cond
    # sharp is exactly MATLAB bicubic 1/4; the blurs and the codec make the input worse
    _, lr, hr = suite["sharp"][0]
    assert np.array_equal(lr, to_uint8(imresize(hr, 0.25, dtype=np.float32)))
    bic = Enhancer(model="bicubic")
    quality = {c: np.mean([psnr(bic.enhance(lr), hr) for _, lr, hr in items]) for c, items in suite.items()}
    assert quality["severe_blur"] < quality["mild_blur"] < quality["sharp"]
    # frame-averaged motion: the input is a blur of its truth (3 px/frame over 5 frames)
    assert quality["video_blur"] < 40
    with pytest.raises(FileNotFoundError, match="nope"):
        build_suite(root / "x", [str(root)], ["nope"], None, None)


def test_score_is_the_enhancer_and_the_table_reads(material):
    root, _, weights = material
    suite = load_suite(root / "suite", limit=3)
    enhancer = Enhancer(str(weights), precision="fp32")
    result = score(suite, enhancer, per_item=True)
    for cond in CONDITIONS:
        row = result[cond]
        assert row["gain_db"] == pytest.approx(row["gfn"]["psnr"] - row["bicubic"]["psnr"])
        assert row["sharpen"]["psnr"] >= row["bicubic"]["psnr"] - 1e-9  # amount 0 is in the grid
        name, lr, hr = suite[cond][0]
        assert row["per_item"][name]["gfn"] == pytest.approx(psnr(enhancer.enhance(lr), hr))
        assert row["per_item"][name]["bicubic"] == pytest.approx(psnr(Enhancer(model="bicubic").enhance(lr), hr))
    assert "flicker_vs_bicubic" in result["video_h264"] and "flicker_vs_bicubic" not in result["sharp"]
    assert result["worst_gain_db"] == min(result[c]["gain_db"] for c in CONDITIONS)
    text = table(result)
    assert text.count("\n") == len(CONDITIONS) + 1 and "video_h264" in text


def test_temporal_error():
    a = [np.full((8, 8, 3), v, np.uint8) for v in (10, 20, 30)]
    assert temporal_error(a, a) == 0.0
    flat = [np.full((8, 8, 3), 20, np.uint8)] * 3  # output frozen while the truth changes by 10 per frame
    assert temporal_error(flat, a) == pytest.approx(10.0)


def test_gfn_eval_suite_cli(material, tmp_path, capsys):
    root, _, weights = material
    main(["--suite", str(root / "suite"), "--weights", str(weights), "--precision", "fp32", "--limit", "2",
          "--json", str(tmp_path / "q.json"), "--threads", "1"])
    out = capsys.readouterr().out
    assert "| severe_blur |" in out
    result = json.loads((tmp_path / "q.json").read_text())
    assert set(CONDITIONS) <= set(result) and result["precision"] == "fp32"
    with pytest.raises(SystemExit) as err:
        main(["--suite", str(tmp_path / "missing")])
    assert err.value.code == 2
    assert "suite.json not found" in capsys.readouterr().err
