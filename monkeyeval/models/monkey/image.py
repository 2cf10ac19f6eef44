"""Image preprocessing of Monkey / TextMonkey: the upstream torchvision pipeline, without torchvision.

Upstream (`monkey_model/visual.py`, `text_monkey/visual_text.py`) runs
`Compose([Resize((896, 896), BICUBIC), ToTensor(), Normalize(CLIP mean, CLIP std)])` on a PIL image opened
from disk and converted to RGB. For PIL inputs torchvision's `Resize` returns the image unchanged when it
already has the target size and otherwise calls `img.resize((w, h), BICUBIC)` (no reducing_gap, Pillow's own
antialiasing); `ToTensor` turns uint8 HWC into float32 CHW divided by 255; `Normalize` computes
`(x - mean) / std` in float32. This module reproduces exactly that with Pillow and torch.

The global 448x448 view (bicubic interpolation of the normalised tensor) is computed by the vision tower
(`vision.py`), as upstream does it on the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from monkeyeval.core.images import ImageLoadError, load_rgb

CLIP_MEAN: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "ImageLoadError",
    "MonkeyImagePreprocessor",
    "load_rgb",
    "pil_to_normalised_tensor",
]


def pil_to_normalised_tensor(image: Image.Image, size: int) -> torch.Tensor:
    """Resize (Pillow bicubic, aspect ratio not kept), /255 and CLIP-normalise: float32 (3, size, size)."""
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True))  # (H, W, 3)
    tensor = pixels.permute(2, 0, 1).contiguous().to(torch.float32).div(255)
    mean = torch.tensor(CLIP_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=torch.float32).view(3, 1, 1)
    return tensor.sub(mean).div(std)


@dataclass(frozen=True)
class MonkeyImagePreprocessor:
    """Picklable `(path) -> float32 (3, image_size, image_size)`; raises ImageLoadError on a bad file."""

    image_size: int = 896

    def __call__(self, path: Path) -> torch.Tensor:
        return pil_to_normalised_tensor(load_rgb(Path(path)), self.image_size)
