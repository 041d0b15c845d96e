"""The shipped weights stay above bicubic on every condition of the quality suite (small crops, shipped in tests/).

tests/data/quality_mini is `train.suite.write_mini_suite(suite, out, limit=4, crop=48)` of the suite the weights were
chosen on (the first four items of each condition, centre 48 LR px crops, 1.2 MB). Crops that small disagree with
the whole suite by a few tenths of a dB either way, so this is a coarse guard, not the measurement (that is the
whole suite, in models/weights/TRAINING.md): the run-4 weights fail it by far (-0.99 dB on sharp crops,
-2.55 dB and 1.23x flicker on compressed video); the run-6 weights (shipped) give +0.76 sharp, +0.94 mild blur,
+0.71 severe blur, +0.72 real video blur, -0.14 H.264 video (1.00x flicker) on these crops.
"""

from pathlib import Path

import pytest

from gfn_stream.models.enhancer import Enhancer
from gfn_stream.models.weights import DEFAULT_WEIGHTS
from gfn_stream.train.suite import CONDITIONS, load_suite, score

MINI = Path(__file__).resolve().parent / "data" / "quality_mini"
MARGIN_DB = 0.3  # crops of 48 LR px are noisier than the whole suite
MAX_FLICKER = 1.05


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="no shipped weights")
def test_shipped_weights_are_not_below_bicubic_on_any_condition():
    suite = load_suite(MINI)
    assert set(suite) == set(CONDITIONS)
    result = score(suite, Enhancer(), sharpen=False)
    gains = {c: round(result[c]["gain_db"], 3) for c in CONDITIONS}
    assert all(g > -MARGIN_DB for g in gains.values()), gains
    for cond in ("video_blur", "video_h264"):  # and no more flicker than bicubic, within the same margin
        assert result[cond]["flicker_vs_bicubic"] < MAX_FLICKER, (cond, result[cond]["flicker_vs_bicubic"])
