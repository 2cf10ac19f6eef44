"""MSAC preprocessing against the upstream fixture (`minimonkey/preprocess`): every case exactly."""

from __future__ import annotations

import hashlib
import json
import pickle
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from parity_fixtures import parity_root
from PIL import Image

from monkeyeval.models.minimonkey.msac import (
    TILE_BUDGETS,
    MiniMonkeyImagePreprocessor,
    MsacOrder,
    TileBudget,
    budget_profile_for_dataset,
    candidate_grids,
    dynamic_preprocess,
    find_closest_aspect_ratio,
    load_rgb,
    msac_tiles,
    normalise_uint8,
    resolve_tile_budget,
    secondary_candidates,
    tiles_to_uint8,
)


def _sha256(array: np.ndarray | torch.Tensor) -> str:
    data = array.numpy() if isinstance(array, torch.Tensor) else array
    contiguous = np.ascontiguousarray(data)
    return hashlib.sha256(contiguous.data.cast("B")).hexdigest()


def _cases_by_image() -> dict[str, list[dict[str, Any]]]:
    """The fixture cases grouped by image, read at collection time (the parity_dir fixture's folder)."""
    path = parity_root() / "minimonkey" / "preprocess" / "cases.jsonl"
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            case = json.loads(line)
            grouped[case["image"]].append(case)
    return dict(grouped)


CASES_BY_IMAGE = _cases_by_image()
ALL_CASES = [case for cases in CASES_BY_IMAGE.values() for case in cases]
# Whole-tensor float32/bf16 hashes: one case per image, profiles rotating (the sweep checks every uint8 tile).
FULL_TENSOR_IDS = {
    cases[index % len(cases)]["id"] for index, (_, cases) in enumerate(sorted(CASES_BY_IMAGE.items()))
}
# Through the worker callable, one case per path worth it, chosen by the case fields: 1x1 primary grid (its
# tile moves last), the MMMU 2x upscale, RGBA (alpha dropped), palette and grey images.
PREPROCESSOR_PATHS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "grid1x1": lambda case: case["primary"]["grid"] == [1, 1],
    "upscale2x": lambda case: bool(case["upscale_2x_bilinear"]),
    "rgba": lambda case: case["mode"] == "RGBA",
    "palette": lambda case: case["mode"] == "P",
    "grey": lambda case: case["mode"] == "L",
}
PREPROCESSOR_CASES = {
    label: case
    for label, rule in PREPROCESSOR_PATHS.items()
    for case in [next((case for case in ALL_CASES if rule(case)), None)]
    if case is not None
}


def _budget(case: dict[str, Any]) -> TileBudget:
    return TileBudget(
        case["min_num1"], case["max_num1"], case["min_num2"], case["max_num2"], case["upscale_2x_bilinear"]
    )


def test_fixture_has_every_case(fixture_dir: Path) -> None:
    summary = json.loads((fixture_dir / "summary.json").read_text(encoding="utf-8"))
    assert len(ALL_CASES) == summary["n_preprocess_cases"] > 0
    assert len({case["id"] for case in ALL_CASES}) == len(ALL_CASES)
    assert all((fixture_dir / image).is_file() for image in CASES_BY_IMAGE)


def test_candidate_order_for_every_budget(fixture_dir: Path) -> None:
    orders = {}
    for name in ("candidate_order_all.json", "candidate_order.json"):
        expected = json.loads((fixture_dir / "preprocess" / name).read_text(encoding="utf-8"))
        compared = 0
        for budget, grids in expected.items():
            low, high = (int(part) for part in budget.split("-"))
            assert [list(grid) for grid in candidate_grids(low, high)] == grids, budget
            compared += 1
        assert compared == len(expected) > 0, name
        orders[name] = expected
    every, used_here = orders["candidate_order_all.json"], orders["candidate_order.json"]
    top = max(int(budget.split("-")[1]) for budget in every)  # "all": every 1 <= min <= max <= top
    assert set(every) == {f"{low}-{high}" for high in range(1, top + 1) for low in range(1, high + 1)}
    assert all(every[budget] == grids for budget, grids in used_here.items() if budget in every)
    budgets = {f"{c['min_num1']}-{c['max_num1']}" for c in ALL_CASES}
    budgets |= {f"{c['min_num2']}-{c['max_num2']}" for c in ALL_CASES}
    assert budgets and budgets <= set(used_here)  # every budget the cases use is listed


def test_profiles_reproduce_every_fixture_budget() -> None:
    seen = {case["profile"]: case for cases in CASES_BY_IMAGE.values() for case in cases}
    compared = 0
    for profile, case in seen.items():
        assert TILE_BUDGETS[profile] == _budget(case), profile
        assert resolve_tile_budget(profile) == _budget(case)
        if profile != "MultimodalOCR":  # a script of its own, not a VLMEvalKit dataset name
            assert TILE_BUDGETS[budget_profile_for_dataset(case["dataset"])] == _budget(case), case["dataset"]
        compared += 1
    assert compared == len(seen) > 0
    assert all(_budget(case) == TILE_BUDGETS[case["profile"]] for case in ALL_CASES)  # consistent per profile
    assert TILE_BUDGETS["OCRBench_MultimodalOCR"] == TileBudget(12, 24, 3, 11)
    assert TILE_BUDGETS["HallusionBench"] == TILE_BUDGETS["POPE"] == TILE_BUDGETS["MME"]


NO_CASES = "no-preprocess-cases"  # the one parameter when the cases file is empty: fails, never skips


@pytest.mark.parametrize("image_name", sorted(CASES_BY_IMAGE) or [NO_CASES])
def test_every_case_grids_order_and_uint8_tiles(fixture_dir: Path, image_name: str) -> None:
    assert image_name in CASES_BY_IMAGE, "the fixture has no preprocess cases"
    image = load_rgb(fixture_dir / image_name)
    compared = full_tensors = 0
    for case in CASES_BY_IMAGE[image_name]:
        budget = _budget(case)
        result = msac_tiles(image, budget)
        primary, secondary = case["primary"], case["secondary"]
        assert list(result.grid) == primary["grid"], case["id"]
        assert len(candidate_grids(budget.min_num1, budget.max_num1)) == primary["n_candidates"]
        survivors = secondary_candidates(budget.min_num2, budget.max_num2, result.grid)
        assert [list(grid) for grid in survivors] == secondary["candidates_after_filter"], case["id"]
        assert result.secondary_grid is not None and list(result.secondary_grid) == secondary["grid"], case[
            "id"
        ]
        assert len(result.tiles) == case["num_tiles"] == case["pixel_shape"][0], case["id"]
        expected_roles = [role.split(" ")[0] for role in case["tile_roles"]]
        assert result.roles == expected_roles, case["id"]
        tiles = tiles_to_uint8(result.tiles)
        assert len(case["tiles"]) == case["num_tiles"], case["id"]
        assert [_sha256(tile) for tile in tiles] == [tile["sha256_uint8_hwc"] for tile in case["tiles"]], (
            case["id"]
        )
        stored = fixture_dir / case["full_uint8_file"] if case.get("full_uint8_file") else None
        if stored is not None and stored.is_file():  # optional; the per-tile sha256 above checks the same
            assert np.array_equal(tiles, np.load(stored)["tiles_uint8_nhwc"]), case["id"]
        if case["id"] in FULL_TENSOR_IDS:
            pixels = normalise_uint8(tiles)
            assert _sha256(pixels) == case["sha256_float32"], case["id"]
            assert _sha256(pixels.to(torch.bfloat16).view(torch.int16)) == case["sha256_bf16"], case["id"]
            full_tensors += 1
        compared += 1
    assert compared == len(CASES_BY_IMAGE[image_name]) > 0
    assert full_tensors == 1  # one whole-tensor check per image


def test_normalisation_is_bit_exact_for_every_level(fixture_dir: Path) -> None:
    """Upstream's uint8 tiles of a case that uses all 256 levels in every channel (recomputed from the image;
    the fixture's per-tile sha256 proves they are upstream's): normalised, its float32 tensor to the bit."""
    assert ALL_CASES
    chosen = None
    for case in sorted(ALL_CASES, key=lambda case: (case["num_tiles"], case["id"])):  # cheapest first
        tiles = tiles_to_uint8(msac_tiles(load_rgb(fixture_dir / case["image"]), _budget(case)).tiles)
        assert len(case["tiles"]) == len(tiles) == case["num_tiles"], case["id"]
        assert [_sha256(tile) for tile in tiles] == [tile["sha256_uint8_hwc"] for tile in case["tiles"]], (
            case["id"]
        )
        if all(len(np.unique(tiles[..., channel])) == 256 for channel in range(3)):
            chosen = case
            break
    assert chosen is not None, "no fixture case has uint8 tiles with all 256 levels in every channel"
    pixels = normalise_uint8(tiles)
    assert pixels.dtype == torch.float32 and pixels.is_contiguous()
    assert tuple(pixels.shape) == tuple(chosen["pixel_shape"])
    assert _sha256(pixels) == chosen["sha256_float32"], chosen["id"]
    stored = fixture_dir / chosen["full_float32_file"] if chosen.get("full_float32_file") else None
    if stored is not None and stored.is_file():  # optional extra: the stored tensor, compared bit by bit
        expected = np.load(stored)["pixel_values_float32"]
        assert np.array_equal(pixels.numpy().view(np.uint32), expected.view(np.uint32))


def test_preprocessor_paths_are_in_the_fixture() -> None:
    """The end-to-end worker test below runs at least one of the paths (chosen by case fields, not ids)."""
    assert PREPROCESSOR_CASES, f"no fixture case takes any of {sorted(PREPROCESSOR_PATHS)}"
    for label, case in PREPROCESSOR_CASES.items():
        assert PREPROCESSOR_PATHS[label](case), label


@pytest.mark.parametrize(
    "case",
    list(PREPROCESSOR_CASES.values()) or [None],
    ids=[f"{k}-{c['id']}" for k, c in PREPROCESSOR_CASES.items()] or [NO_CASES],
)
def test_preprocessor_end_to_end(fixture_dir: Path, case: dict[str, Any] | None) -> None:
    """The picklable worker callable, from the file path to the float32 tensor (and the bf16 that upstream
    feeds the model)."""
    assert case is not None, f"no fixture case takes any of {sorted(PREPROCESSOR_PATHS)}"
    preprocessor = MiniMonkeyImagePreprocessor(TILE_BUDGETS[case["profile"]], "primary_first")
    pixels, grid = pickle.loads(pickle.dumps(preprocessor))(fixture_dir / case["image"])
    assert list(grid) == case["primary"]["grid"]
    assert tuple(pixels.shape) == tuple(case["pixel_shape"]) and pixels.dtype == torch.float32
    assert _sha256(pixels) == case["sha256_float32"]
    assert _sha256(pixels.to(torch.bfloat16).view(torch.int16)) == case["sha256_bf16"]


def _solid(width: int, height: int) -> Image.Image:
    return Image.new("RGB", (width, height), (10, 200, 30))


def test_tie_rule_takes_later_grid_only_for_large_images() -> None:
    candidates = [(1, 1), (2, 2)]  # both exactly ratio 1.0
    assert find_closest_aspect_ratio(1.0, candidates, 448, 448) == (1, 1)  # 448^2 is not > 0.5 * 4 * 448^2
    assert find_closest_aspect_ratio(1.0, candidates, 700, 700) == (2, 2)
    assert find_closest_aspect_ratio(2.0, [], 10, 5) == (1, 1)  # empty list: the (1, 1) fallback
    assert find_closest_aspect_ratio(2.0, [(1, 1), (2, 1), (3, 1)], 900, 450) == (2, 1)


def test_dynamic_preprocess_tiles_row_major_with_thumbnail() -> None:
    image = Image.new("RGB", (896, 448))
    image.paste((255, 0, 0), (0, 0, 448, 448))
    tiles, grid = dynamic_preprocess(image, 1, 2)
    assert grid == (2, 1) and len(tiles) == 3
    assert tiles[0].getpixel((100, 100)) == (255, 0, 0) and tiles[1].getpixel((100, 100)) == (0, 0, 0)
    assert tiles[2].size == (448, 448)
    single, grid = dynamic_preprocess(image, 1, 1)
    assert grid == (1, 1) and len(single) == 1  # no thumbnail for a single tile
    filtered, grid = dynamic_preprocess(image, 1, 4, prior=(2, 1))
    assert grid not in [(1, 1), (2, 1)] and len(filtered) == grid[0] * grid[1] + 1


def test_one_by_one_primary_grid_moves_the_tile_last_and_orders_differ() -> None:
    image = _solid(448, 448)
    budget = TileBudget(1, 24, 1, 8)
    primary_first = msac_tiles(image, budget)
    assert primary_first.grid == (1, 1)
    assert primary_first.roles[-1] == "primary[0]" and primary_first.roles[0] == "secondary[0]"
    secondary_first = msac_tiles(image, budget, MsacOrder.SECONDARY_FIRST)
    n_secondary = primary_first.secondary_grid[0] * primary_first.secondary_grid[1]  # type: ignore[index]
    assert secondary_first.roles == [f"secondary[{k}]" for k in range(n_secondary)] + ["secondary_thumbnail"]


def test_secondary_first_order_is_the_vlmevalkit_assembly() -> None:
    image = _solid(1280, 720)
    budget = TILE_BUDGETS["ChartQA"]
    first = msac_tiles(image, budget, "primary_first")
    second = msac_tiles(image, budget, "secondary_first")
    n_primary = first.grid[0] * first.grid[1]
    assert first.secondary_grid is not None
    n_secondary = first.secondary_grid[0] * first.secondary_grid[1]
    assert first.roles == (
        [f"primary[{k}]" for k in range(n_primary)]
        + [f"secondary[{k}]" for k in range(n_secondary)]
        + ["primary_thumbnail"]
    )
    assert second.roles == (
        [f"secondary[{k}]" for k in range(n_secondary)]
        + [f"primary[{k}]" for k in range(n_primary)]
        + ["secondary_thumbnail"]
    )


def test_no_surviving_secondary_grid_drops_that_scale() -> None:
    image = _solid(900, 900)
    budget = TileBudget(4, 4, 1, 2)  # primary (2, 2); (1, 1), (1, 2) and (2, 1) all divide it
    result = msac_tiles(image, budget)
    assert result.grid == (2, 2) and result.secondary_grid is None
    assert result.roles == ["primary[0]", "primary[1]", "primary[2]", "primary[3]", "primary_thumbnail"]
    other = msac_tiles(image, budget, "secondary_first")
    assert other.roles == ["primary[0]", "primary[1]", "primary[2]", "primary[3]", "secondary[0]"]


def test_budget_parsing_and_validation() -> None:
    assert resolve_tile_budget("4-12,1-3") == TileBudget(4, 12, 1, 3)
    assert resolve_tile_budget(TILE_BUDGETS["DocVQA"]) is TILE_BUDGETS["DocVQA"]
    assert budget_profile_for_dataset("TextVQA_VAL") == "default"
    assert budget_profile_for_dataset("MMMU_TEST") == "default"  # the upscale is for MMMU_DEV_VAL only
    assert budget_profile_for_dataset("OCRBench") == "OCRBench"
    with pytest.raises(ValueError, match="unknown Mini-Monkey tile budget"):
        resolve_tile_budget("NoSuchProfile")
    with pytest.raises(ValueError, match="min_num1"):
        TileBudget(5, 4, 1, 2)
    with pytest.raises(ValueError):
        MiniMonkeyImagePreprocessor(TILE_BUDGETS["default"], "sideways")


def test_image_modes_convert_like_upstream(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (3, 2), (10, 20, 30, 0))
    rgba.save(tmp_path / "a.png")
    assert load_rgb(tmp_path / "a.png").getpixel((0, 0)) == (10, 20, 30)  # alpha dropped, not composited
    with pytest.raises(FileNotFoundError):
        MiniMonkeyImagePreprocessor(TILE_BUDGETS["default"])(tmp_path / "missing.png")
