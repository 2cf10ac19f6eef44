"""Reading an image file the way every upstream pipeline does: PIL open, fully decoded, converted to RGB.

Errors say which file and what went wrong. `ImageNotFoundError` is also a `FileNotFoundError` and
`ImageLoadError` an `OSError`, so the runner records them per sample like any other unreadable image.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from PIL import Image

from monkeyeval.core.errors import UserError


class ImageLoadError(UserError, OSError):
    """An image that cannot be read (missing, unreadable or not decodable)."""


class ImageNotFoundError(ImageLoadError, FileNotFoundError):
    """The image file does not exist."""


def require_regular_file(path: Path) -> None:
    """Refuse a FIFO, device or folder before PIL blocks on it or reads forever (ImageLoadError)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError as exc:
        raise ImageNotFoundError(f"{path}: image file not found") from exc
    except OSError as exc:
        raise ImageLoadError(f"{path}: cannot read image ({exc.strerror})") from exc
    if not stat.S_ISREG(mode):
        raise ImageLoadError(f"{path}: not a regular file (a FIFO, device or folder); expected an image file")


def load_rgb(path: Path) -> Image.Image:
    """Open `path` with PIL and convert it to RGB (alpha dropped, palette/grey expanded), fully decoded."""
    require_regular_file(path)
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError as exc:
        raise ImageNotFoundError(f"{path}: image file not found") from exc
    except (OSError, ValueError, SyntaxError) as exc:  # PIL's UnidentifiedImageError is an OSError
        raise ImageLoadError(
            f"{path}: cannot decode image ({type(exc).__name__}: {exc}); re-download or replace the file"
        ) from exc
