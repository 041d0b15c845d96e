"""Which kind of output a path names (a video file, an image, an image sequence) and whether it can be written,
checked before any work: the extension, the folder, an existing file, another writer, the container's codecs.

    kind = check_output_path("out.mp4", overwrite=False, options=opts)    # "video", "image" or "sequence"
"""

from __future__ import annotations

import io
import logging
import os
import re
from pathlib import Path

import av

from . import sequence
from .encode_options import EncodeOptions, SinkError
from .frames import IMAGE_EXTENSIONS
from .output_file import SequenceLock, probe

logger = logging.getLogger(__name__)

VIDEO_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}


def check_output_path(path: str | os.PathLike, overwrite: bool = False,
                      options: EncodeOptions | None = None) -> str:
    """Validate an output path before any work; returns "video", "image" or "sequence".

    Checks the extension (or %d pattern), that the folder exists and is writable, that nothing is
    overwritten unless overwrite=True and, given options, that the container can hold the codec."""
    path = Path(path)
    suffix = path.suffix.lower()
    patterns = sequence.PATTERN.findall(path.name)
    if patterns:
        if len(patterns) > 1 or suffix not in IMAGE_EXTENSIONS:
            raise SinkError(f"an image sequence needs one %d and an image extension, like frames/%06d.png: {path}")
        kind = "sequence"
    elif suffix in IMAGE_EXTENSIONS:
        kind = "image"
    elif suffix in VIDEO_CONTAINERS:
        kind = "video"
    else:
        raise SinkError(f"unsupported output type {suffix or '(no extension)'!r}: use .mp4, .mkv, .mov or .webm, "
                        f"an image (.png, .jpg, ...) or an image sequence (frames/%06d.png): {path}")
    check_folder(path.parent)
    existing = _existing_outputs(path) if kind == "sequence" else [path] if path.exists() else []
    if path.is_dir():
        raise SinkError(f"output is a directory: {path}")
    if existing and not overwrite:
        what = f"{len(existing)} file(s) match {path.name}" if kind == "sequence" else "it exists"
        raise SinkError(f"refusing to overwrite {path} ({what}); pass overwrite to replace")
    if kind == "sequence":
        SequenceLock.probe(path)
    else:
        probe(path, overwrite)  # another run writing it, or a killed run's partial file in the way
    if options is not None and kind == "video":
        options.validate()
        fmt = VIDEO_CONTAINERS[suffix]
        try:
            av.open(io.BytesIO(), "w", format=fmt).add_stream(options.codec)
        except ValueError:
            hint = "libvpx-vp9 or libsvtav1" if fmt == "webm" else "libx264"
            raise SinkError(f"{suffix} files cannot hold {options.codec} video (use {hint})") from None
    return kind


def check_folder(folder: Path) -> None:
    """SinkError unless the output folder exists and this process may create files in it."""
    if not folder.is_dir():
        raise SinkError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SinkError(f"output folder is not writable: {folder}")


def _existing_outputs(pattern: Path) -> list[Path]:
    parts = sequence.PATTERN.split(pattern.name)
    regex = re.compile(re.escape(parts[0]) + r"\d+" + re.escape(parts[2]) + "$")
    return [pattern.parent / n for n in os.listdir(pattern.parent) if regex.match(n)] if pattern.parent.is_dir() else []
