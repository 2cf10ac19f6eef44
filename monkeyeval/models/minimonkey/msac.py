"""Mini-Monkey multi-scale adaptive cropping (MSAC): tile budgets, grid choice, tiling and normalisation.

Reproduces the evaluation path of the published numbers (Mini-Monkey `eval/internvl_chat.py`, VLMEvalKit
wrapper, `generate_v2`), pinned by the parity fixture `minimonkey/preprocess`:

- candidate grids are the (i, j) with min <= i*j <= max in CPython set-iteration order, stable-sorted by i*j;
- the closest aspect ratio wins; on an exact tie the later candidate wins when W*H > 0.5*448*448*i*j;
- the second scale keeps only grids that do NOT divide the primary grid (`P_i % i or P_j % j`);
- tiles are Pillow resizes with its default filter (BICUBIC for RGB), cropped row-major, plus a thumbnail
  when there is more than one tile;
- assembly slices the two scales literally (see `MsacOrder`), including the 1x1 primary-grid edge case.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import MappingProxyType

import numpy as np
import PIL
import torch
from PIL import Image

from monkeyeval.core.images import load_rgb

IMAGE_SIZE = 448
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Grid = tuple[int, int]


@dataclass(frozen=True)
class TileBudget:
    """Tile budget of both MSAC scales: primary grid in [min_num1, max_num1] tiles, secondary in [min_num2,
    max_num2]. `upscale_2x` doubles the image (bilinear) before the primary scale only (MMMU)."""

    min_num1: int
    max_num1: int
    min_num2: int
    max_num2: int
    upscale_2x: bool = False

    def __post_init__(self) -> None:
        for low, high, scale in ((self.min_num1, self.max_num1, 1), (self.min_num2, self.max_num2, 2)):
            if not 1 <= low <= high:
                raise ValueError(
                    f"invalid tile budget {self}: scale {scale} needs 1 <= min_num{scale} <= max_num{scale}"
                )


# Per-dataset budgets of `InternVLChat.set_max_num` (facts doc 4.2), plus the MultimodalOCR OCRBench script
# (facts doc 4.3) and MMMU (default budget with the 2x bilinear upscale of the primary scale).
TILE_BUDGETS: Mapping[str, TileBudget] = MappingProxyType(
    {
        "ChartQA": TileBudget(4, 12, 1, 3),
        "DocVQA": TileBudget(1, 24, 1, 8),
        "InfoVQA": TileBudget(5, 24, 3, 8),
        "OCRBench": TileBudget(8, 24, 3, 9),
        "CCBench": TileBudget(3, 8, 1, 4),
        "RealWorldQA": TileBudget(3, 12, 1, 4),
        "MME": TileBudget(3, 9, 1, 4),
        "HallusionBench": TileBudget(3, 9, 1, 4),
        "POPE": TileBudget(3, 9, 1, 4),
        "default": TileBudget(12, 24, 3, 5),
        "MMMU": TileBudget(12, 24, 3, 5, upscale_2x=True),
        "OCRBench_MultimodalOCR": TileBudget(12, 24, 3, 11),
        "MultimodalOCR": TileBudget(12, 24, 3, 11),
        # Upstream VLMEvalKit `vlmeval/vlm/minimonkey.py` (not the README path; pair with secondary_first).
        "VLMEvalKit_upstream": TileBudget(4, 12, 3, 7),
    }
)

# `set_max_num` matches dataset names by substring, in this order (first match wins); else "default".
_DATASET_MATCHES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("ChartQA_TEST",), "ChartQA"),
    (("DocVQA_VAL", "DocVQA_TEST"), "DocVQA"),
    (("InfoVQA_VAL", "InfoVQA_TEST"), "InfoVQA"),
    (("OCRBench",), "OCRBench"),
    (("CCBench",), "CCBench"),
    (("RealWorldQA",), "RealWorldQA"),
    (("MME", "HallusionBench", "POPE"), "MME"),
    (("MMMU_DEV_VAL",), "MMMU"),  # default budget; upstream upscales only for MMMU_DEV_VAL
)

_BUDGET_SPEC = re.compile(r"^\s*(\d+)\s*[-:]\s*(\d+)\s*[,/]\s*(\d+)\s*[-:]\s*(\d+)\s*$")


def budget_profile_for_dataset(dataset: str) -> str:
    """The `TILE_BUDGETS` profile name upstream `set_max_num` picks for a VLMEvalKit dataset name."""
    for needles, profile in _DATASET_MATCHES:
        if any(needle in dataset for needle in needles):
            return profile
    return "default"


def resolve_tile_budget(spec: str | TileBudget) -> TileBudget:
    """A budget from a profile name (`TILE_BUDGETS`) or an explicit `"min1-max1,min2-max2"` ("4-12,1-3")."""
    if isinstance(spec, TileBudget):
        return spec
    if spec in TILE_BUDGETS:
        return TILE_BUDGETS[spec]
    match = _BUDGET_SPEC.match(spec)
    if match is None:
        raise ValueError(
            f"unknown Mini-Monkey tile budget {spec!r}: use one of {', '.join(TILE_BUDGETS)} "
            "or an explicit 'min1-max1,min2-max2' such as '4-12,1-3'"
        )
    min1, max1, min2, max2 = (int(group) for group in match.groups())
    return TileBudget(min1, max1, min2, max2)


class MsacOrder(str, Enum):
    """How the two scales are assembled into one tile sequence.

    PRIMARY_FIRST: `[P[:-1], S[:-1], P[-1:]]` = primary tiles, secondary tiles, primary thumbnail (the README
    path, `generate_v2`; the default). SECONDARY_FIRST: `[S[:-1], P[:-1], S[-1:]]` = secondary tiles, primary
    tiles, secondary thumbnail (upstream VLMEvalKit `minimonkey.py` and `demo.py`).
    """

    PRIMARY_FIRST = "primary_first"
    SECONDARY_FIRST = "secondary_first"


def candidate_grids(min_num: int, max_num: int) -> list[Grid]:
    """All grids (i, j) with min_num <= i*j <= max_num, in upstream order.

    Upstream builds a Python set (inserting n = min..max, i = 1..n, j = 1..n) and stable-sorts it by i*j, so
    the order within one product is CPython's set-iteration order; building the set the same way reproduces
    it.
    """
    grids: set[Grid] = set()
    for n in range(min_num, max_num + 1):
        for i in range(1, n + 1):
            for j in range(1, n + 1):
                if min_num <= i * j <= max_num:
                    grids.add((i, j))
    return sorted(grids, key=lambda grid: grid[0] * grid[1])


def find_closest_aspect_ratio(
    aspect_ratio: float, target_ratios: Sequence[Grid], width: int, height: int, image_size: int = IMAGE_SIZE
) -> Grid:
    """The grid whose i/j is closest to `aspect_ratio`; (1, 1) when `target_ratios` is empty.

    Tie rule: a later candidate with exactly the same distance wins when the image area exceeds half the
    grid's pixel area (`width*height > 0.5*image_size**2*i*j`).
    """
    best_diff = float("inf")
    best: Grid = (1, 1)
    area = width * height
    for grid in target_ratios:
        diff = abs(aspect_ratio - grid[0] / grid[1])
        if diff < best_diff:
            best_diff = diff
            best = grid
        elif diff == best_diff and area > 0.5 * image_size * image_size * grid[0] * grid[1]:
            best = grid
    return best


def _filter_by_prior(grids: Sequence[Grid], prior: Grid) -> list[Grid]:
    """Second-scale filter (evaluation `or` rule): drop every grid that divides the prior grid."""
    return [grid for grid in grids if prior[0] % grid[0] != 0 or prior[1] % grid[1] != 0]


def secondary_candidates(min_num: int, max_num: int, prior: Grid) -> list[Grid]:
    """The second scale's candidate grids, in order: those of `candidate_grids` that do not divide `prior`."""
    return _filter_by_prior(candidate_grids(min_num, max_num), prior)


def dynamic_preprocess(
    image: Image.Image,
    min_num: int,
    max_num: int,
    image_size: int = IMAGE_SIZE,
    use_thumbnail: bool = True,
    prior: Grid | None = None,
) -> tuple[list[Image.Image], Grid]:
    """Tile `image` on the closest-aspect grid: `(tiles [+ thumbnail], grid)`; grid is (columns, rows).

    `prior` (the primary grid) turns this into the second scale: grids dividing it are excluded first.
    """
    width, height = image.size
    candidates = candidate_grids(min_num, max_num)
    if prior is not None:
        candidates = _filter_by_prior(candidates, prior)
    grid = find_closest_aspect_ratio(width / height, candidates, width, height, image_size)
    columns, rows = grid
    # No filter argument on purpose: upstream relies on Pillow's default (BICUBIC for RGB images).
    canvas = image.resize((image_size * columns, image_size * rows))
    tiles = []
    for index in range(columns * rows):
        left = (index % columns) * image_size
        top = (index // columns) * image_size
        tiles.append(canvas.crop((left, top, left + image_size, top + image_size)))
    if use_thumbnail and len(tiles) != 1:
        tiles.append(image.resize((image_size, image_size)))
    return tiles, grid


@dataclass
class MsacResult:
    """The assembled tile sequence, the primary grid (upstream `target_aspect_ratio`) and the secondary grid
    (None when no grid survived the second scale's filter, so that scale contributed only the 1x1 fallback).
    `roles` names each tile, e.g. `primary[0]`, `secondary[2]`, `primary_thumbnail`."""

    tiles: list[Image.Image]
    grid: Grid
    secondary_grid: Grid | None
    roles: list[str] = field(default_factory=list)


def _roles(scale: str, n_returned: int, grid: Grid) -> list[str]:
    n_grid = grid[0] * grid[1]
    names = [f"{scale}[{k}]" for k in range(n_grid)]
    return names + [f"{scale}_thumbnail"] * (n_returned - n_grid)


def _grid_tiles(tiles: list[Image.Image], roles: list[str]) -> tuple[list[Image.Image], list[str]]:
    """Upstream's `X[:-1]` of a scale computed without its thumbnail: all grid tiles, or none for a 1x1 grid
    (where upstream's list has no thumbnail, so `[:-1]` drops the single tile)."""
    return (tiles, roles) if len(tiles) > 1 else ([], [])


def msac_tiles(
    image: Image.Image, budget: TileBudget, order: MsacOrder | str = MsacOrder.PRIMARY_FIRST
) -> MsacResult:
    """Both MSAC scales of an RGB image, assembled in `order` with upstream's literal slicing.

    PRIMARY_FIRST is `P[:-1] + S[:-1] + P[-1:]`: with a 1x1 primary grid there is no thumbnail, so `P[:-1]` is
    empty and the single primary tile comes last, after the secondary tiles. When no secondary grid survives
    the filter, that scale is the 1x1 fallback and `S[:-1]` is empty. The thumbnail that the order discards is
    never computed (same output, one resize fewer).
    """
    order = MsacOrder(order)
    primary_image = image
    if budget.upscale_2x:
        primary_image = image.resize((image.width * 2, image.height * 2), Image.Resampling.BILINEAR)
    keep_primary_thumbnail = order is MsacOrder.PRIMARY_FIRST
    primary, grid = dynamic_preprocess(
        primary_image, budget.min_num1, budget.max_num1, use_thumbnail=keep_primary_thumbnail
    )
    secondary, secondary_grid = dynamic_preprocess(
        image, budget.min_num2, budget.max_num2, use_thumbnail=not keep_primary_thumbnail, prior=grid
    )
    survivors = secondary_candidates(budget.min_num2, budget.max_num2, grid)
    primary_roles = _roles("primary", len(primary), grid)
    secondary_roles = _roles("secondary", len(secondary), secondary_grid)
    if order is MsacOrder.PRIMARY_FIRST:
        secondary_tiles, secondary_roles = _grid_tiles(secondary, secondary_roles)
        tiles = primary[:-1] + secondary_tiles + primary[-1:]
        roles = primary_roles[:-1] + secondary_roles + primary_roles[-1:]
    else:
        primary_tiles, primary_roles = _grid_tiles(primary, primary_roles)
        tiles = secondary[:-1] + primary_tiles + secondary[-1:]
        roles = secondary_roles[:-1] + primary_roles + secondary_roles[-1:]
    return MsacResult(
        tiles=tiles, grid=grid, secondary_grid=secondary_grid if survivors else None, roles=roles
    )


def tiles_to_uint8(tiles: Sequence[Image.Image], image_size: int = IMAGE_SIZE) -> np.ndarray:
    """Stack RGB tiles as uint8 (N, H, W, 3); tiles of another size are resized with BICUBIC first (the
    `Resize((448, 448), BICUBIC)` of upstream `build_transform`, a no-op for MSAC tiles)."""
    arrays = []
    for tile in tiles:
        if tile.mode != "RGB":
            tile = tile.convert("RGB")
        if tile.size != (image_size, image_size):
            tile = tile.resize((image_size, image_size), Image.Resampling.BICUBIC)
        arrays.append(np.asarray(tile, dtype=np.uint8))
    return np.stack(arrays)


def normalise_uint8(tiles_nhwc: np.ndarray) -> torch.Tensor:
    """ImageNet-normalised float32 (N, 3, H, W) from uint8 (N, H, W, 3).

    The same float32 operations as torchvision's ToTensor + Normalize (`u8 / 255`, `- mean`, `/ std`, each
    rounded to float32), so the result is bit-identical to upstream's `build_transform`.
    """
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)[:, None, None]
    channels_first = torch.from_numpy(np.ascontiguousarray(tiles_nhwc)).permute(0, 3, 1, 2).contiguous()
    return channels_first.to(torch.float32).div_(255).sub_(mean).div_(std)


def pillow_resize_is_parity_safe() -> bool:
    """True for Pillow < 13 (bit-identical bicubic resizing to the upstream runs); Pillow 13 changed it."""
    return int(PIL.__version__.split(".")[0]) < 13


@dataclass(frozen=True)
class MiniMonkeyImagePreprocessor:
    """Picklable `(path) -> (pixel_values float32 (N, 3, 448, 448), primary grid)` for DataLoader workers."""

    budget: TileBudget
    order: MsacOrder | str = MsacOrder.PRIMARY_FIRST

    def __post_init__(self) -> None:
        object.__setattr__(self, "order", MsacOrder(self.order))
        if not pillow_resize_is_parity_safe():
            warnings.warn(
                f"Pillow {PIL.__version__} resizes differently from Pillow <= 12: Mini-Monkey tiles will not "
                "be bit-identical to upstream; install 'pillow<13' to reproduce published numbers",
                stacklevel=2,
            )

    def __call__(self, path: Path) -> tuple[torch.Tensor, Grid]:
        result = msac_tiles(load_rgb(Path(path)), self.budget, self.order)
        return normalise_uint8(tiles_to_uint8(result.tiles)), result.grid
