"""Video encoder settings (EncodeOptions), checked per codec before any work, and SinkError.

    opts = EncodeOptions(codec="libsvtav1", preset=8)     # crf: 18 by default where the codec has crf
    opts.validate()                                       # SinkError with one line for the user
    stream.options = opts.codec_options()                 # FFmpeg AVOptions for the encoder

- crf: None means the default, 18, for the codecs that have a crf (x264, x265, VP8/9, SVT-AV1, AOM AV1) and
  nothing for the others (ffv1 is lossless, mpeg4 takes a bitrate); an explicit crf for a codec without
  one is an error. A bitrate replaces the crf.
- preset: x264's names for every encoder (mapped to cpu-used for VP8/9 and AOM AV1 and to 0-13 for
  SVT-AV1), or the encoder's own numbers: SVT-AV1 0-13, VP8/9 and AOM AV1 cpu-used 0-8. Codecs without
  a speed setting (ffv1, ...) ignore the names.
- quiet: the encoders that print banners on their own (x265, SVT-AV1) are told to print errors only.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

import av

from . import planes

logger = logging.getLogger(__name__)

DEFAULT_CRF = 18
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
           "placebo")
CRF_RANGE = {"libx264": (0, 51), "libx265": (0, 51), "libvpx-vp9": (0, 63), "libvpx": (4, 63),
             "libsvtav1": (1, 63), "libaom-av1": (0, 63)}
NUMERIC_PRESETS = {"libsvtav1": (0, 13), "libvpx-vp9": (0, 8), "libvpx": (0, 8), "libaom-av1": (0, 8)}
TUNES = {"libx264": ("film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode", "zerolatency"),
         "libx265": ("psnr", "ssim", "grain", "zerolatency", "fastdecode", "animation")}


class SinkError(Exception):
    """The output cannot be written as asked; the message is one line for the user."""


@dataclass
class EncodeOptions:
    """Video encoder settings (see the module docstring). matrix: "auto" (BT.709 for HD output, BT.601 for
    SD), "bt709" or "bt601"."""

    codec: str = "libx264"
    crf: int | None = None  # None: DEFAULT_CRF where the codec has a crf and no bitrate is given
    bitrate: str | int | None = None
    preset: str | int | None = "medium"
    pix_fmt: str = "auto"  # "auto": yuv420p, or yuv420p10le for an input of more than 8 bits (resolve_pix_fmt)
    threads: int = 0
    matrix: str = "auto"
    tune: str | None = None  # x264/x265 tune, e.g. "zerolatency" for live outputs (no look-ahead, no B-frames)
    keyint: int | None = None  # keyframe interval in frames (None: the encoder's default, 250 for x264)
    quiet: bool = False  # errors only from encoders that print on their own (x265, SVT-AV1)
    # --resume chunks, conservatively: x264's look-ahead runs in step with the encoder (sync-lookahead=0), not in a
    # thread of its own, so no frame-type decision can depend on timing
    deterministic: bool = False

    def effective_crf(self) -> int | None:
        """The crf the encoder gets: the one given, else the default where the codec has one."""
        if self.crf is not None:
            return self.crf
        return DEFAULT_CRF if self.bitrate is None and self.codec in CRF_RANGE else None

    def validate(self) -> None:
        try:
            codec = av.Codec(self.codec, "w")
        except (av.codec.codec.UnknownCodecError, ValueError):
            raise SinkError(f"unknown video encoder {self.codec!r} (try {', '.join(known_encoders())})") from None
        if codec.type != "video":
            raise SinkError(f"{self.codec!r} is a {codec.type} encoder, not a video encoder")
        if self.crf is not None and self.bitrate is not None:
            raise SinkError("crf and bitrate exclude each other: give one of them")
        if self.crf is not None:
            if self.codec not in CRF_RANGE:
                raise SinkError(f"{self.codec} has no crf setting: leave crf out (and give a bitrate if it "
                                "takes one)")
            low, high = CRF_RANGE[self.codec]
            if not isinstance(self.crf, int) or isinstance(self.crf, bool) or not low <= self.crf <= high:
                raise SinkError(f"crf for {self.codec} must be an integer from {low} to {high}, not {self.crf!r}")
        if self.bitrate is not None:
            self.bit_rate()
        self._preset_number()
        formats = {f.name for f in codec.video_formats or ()}
        if formats and self.pix_fmt != "auto" and self.pix_fmt not in formats:
            raise SinkError(f"{self.codec} cannot encode pixel format {self.pix_fmt!r} "
                            f"(it takes {', '.join(sorted(formats))})")
        if not isinstance(self.threads, int) or self.threads < 0:
            raise SinkError(f"threads must be 0 (auto) or a positive integer, not {self.threads!r}")
        if self.matrix not in ("auto", "bt709", "bt601"):
            raise SinkError(f"matrix must be 'auto', 'bt709' or 'bt601', not {self.matrix!r}")
        if self.tune is not None:
            tunes = TUNES.get(self.codec)
            if tunes is None:
                raise SinkError(f"{self.codec} has no tune setting (libx264 and libx265 have)")
            if self.tune not in tunes:
                raise SinkError(f"unknown tune {self.tune!r} for {self.codec} (use one of {', '.join(tunes)})")
        if self.keyint is not None and (not isinstance(self.keyint, int) or isinstance(self.keyint, bool)
                                        or self.keyint < 1):
            raise SinkError(f"keyint must be a whole number of frames >= 1, not {self.keyint!r}")

    def resolve_pix_fmt(self, source_pix_fmt: str | None) -> str:
        """The pixel format written: the one given, or for "auto" yuv420p10le when the input has more than 8 bits
        and the encoder takes it (10-bit in, 10-bit out), else yuv420p."""
        if self.pix_fmt != "auto":
            return self.pix_fmt
        try:
            deep = bool(source_pix_fmt) and planes.bit_depth(source_pix_fmt) > 8
            formats = {f.name for f in av.Codec(self.codec, "w").video_formats or ()}
        except (ValueError, av.FFmpegError, av.codec.codec.UnknownCodecError):
            return "yuv420p"
        return "yuv420p10le" if deep and "yuv420p10le" in formats else "yuv420p"

    def bit_rate(self) -> int | None:
        """The bitrate in bit/s ("4M", "800k", 2500000), or None."""
        value = self.bitrate
        if value is None:
            return None
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*", str(value))
        if not m or float(m.group(1)) <= 0:
            raise SinkError(f"bitrate must look like 4M, 800k or 2500000, not {value!r}")
        return int(float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2).lower()])

    def codec_options(self) -> dict[str, str]:
        opts: dict[str, str] = {}
        if self.deterministic and self.codec == "libx264":
            opts["x264-params"] = "sync-lookahead=0"
        crf = self.effective_crf()
        if crf is not None:
            opts["crf"] = str(crf)
            if self.codec.startswith("libvpx"):
                opts["b"] = "0"  # constant-quality mode
        if self.tune is not None:
            opts["tune"] = self.tune
        if self.keyint is not None:
            opts["g"] = str(self.keyint)
        number = self._preset_number()
        if self.preset is not None:
            if self.codec in ("libx264", "libx265"):
                opts["preset"] = str(self.preset)
            elif self.codec.startswith("libvpx"):
                opts.update({"deadline": "good", "cpu-used": str(number), "row-mt": "1"})
            elif self.codec == "libaom-av1":
                opts["cpu-used"] = str(number)
            elif self.codec == "libsvtav1":
                opts["preset"] = str(number)
        if self.quiet:
            if self.codec == "libx265":
                opts["x265-params"] = "log-level=error"
            elif self.codec == "libsvtav1":
                os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1's own logger: errors only (read at encoder start)
        return opts

    def _preset_number(self) -> int | None:
        """The encoder's speed number for a preset (None for x264/x265 names and codecs without presets)."""
        preset = self.preset
        if preset is None:
            return None
        numeric = NUMERIC_PRESETS.get(self.codec)
        text = str(preset).strip()
        if isinstance(preset, int) and not isinstance(preset, bool) or text.lstrip("-").isdigit():
            if numeric is None:
                raise SinkError(f"{self.codec} has no numeric presets: use one of {', '.join(PRESETS)}")
            low, high = numeric
            if not low <= int(text) <= high:
                raise SinkError(f"preset for {self.codec} must be {low}-{high} (or one of x264's names), not {text}")
            return int(text)
        if text not in PRESETS:
            extra = f", or {numeric[0]}-{numeric[1]}" if numeric else ""
            raise SinkError(f"unknown preset {text!r} (use one of {', '.join(PRESETS)}{extra})")
        speed = PRESETS.index(text)
        if self.codec == "libsvtav1":
            return max(0, 12 - speed)
        if numeric is not None:
            return max(0, 8 - speed)
        return None


def known_encoders() -> list[str]:
    names = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "libaom-av1", "ffv1")
    return [n for n in names if n in av.codecs_available]
