"""`minimonkey` model family: native Mini-Monkey (no remote code) behind the runner's adapter contract.

Options (a task's `family_options: {minimonkey: {...}}`, overridden by `--model-option key=value`):

- `tiles`: MSAC tile budget, a profile of `msac.TILE_BUDGETS` (ChartQA, DocVQA, InfoVQA, OCRBench, default,
  OCRBench_MultimodalOCR, ...) or explicit `"min1-max1,min2-max2"`; default `default`.
- `order`: `primary_first` (the README path, default) or `secondary_first` (upstream VLMEvalKit/demo.py).
- `use_scm`: the scale compression mechanism; off by default, as in every published evaluation.

Upstream details kept on purpose: pixel values are cast to bfloat16 before the ViT (`generate_v2`),
whatever the model dtype; the answer is the decoded text cut at `<|im_end|>` and stripped.
`DecodeSettings.min_new_tokens` None (upstream sets none) or 1 is a no-op (the eos counts as a generated
token); larger values block eos until that many tokens exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import PIL
import torch
from PIL import Image

from monkeyeval.core.images import require_regular_file
from monkeyeval.core.types import Generation, Sample
from monkeyeval.models.base import DecodeSettings, LoadOptions, ModelAdapter, ModelInput
from monkeyeval.models.detection import is_minimonkey_config
from monkeyeval.models.minimonkey.generate import GenerationRequest, GreedySettings, greedy_generate
from monkeyeval.models.minimonkey.model import MiniMonkeyConfig, MiniMonkeyForCausalLM
from monkeyeval.models.minimonkey.msac import (
    MiniMonkeyImagePreprocessor,
    MsacOrder,
    TileBudget,
    candidate_grids,
    find_closest_aspect_ratio,
    resolve_tile_budget,
    secondary_candidates,
)
from monkeyeval.models.minimonkey.template import (
    IMAGE_PLACEHOLDER,
    answer_from_decoded,
    build_query,
    chat_text,
)
from monkeyeval.models.minimonkey.tokenizer import TOKENIZER_FILES, InternLM2Tokenizer
from monkeyeval.models.options import OptionError, parse_flag, reject_unknown
from monkeyeval.models.weights import (
    CheckpointError,
    checkpoint_sha256,
    resolve_checkpoint,
)

PIXEL_DTYPE = torch.bfloat16  # upstream generate_v2 casts the tiles to bf16 before the model


@dataclass(frozen=True)
class MiniMonkeyOptions:
    """The family options, validated."""

    tiles: str = "default"
    order: str = MsacOrder.PRIMARY_FIRST.value
    use_scm: bool = False

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> MiniMonkeyOptions:
        """Validate a mapping of options; unknown keys and bad values raise OptionError naming the fix."""
        reject_unknown("minimonkey", raw, cls.__dataclass_fields__)
        options = cls(
            tiles=str(raw.get("tiles", cls.tiles)),
            order=str(raw.get("order", cls.order)),
            use_scm=parse_flag("minimonkey", "use_scm", raw.get("use_scm", cls.use_scm)),
        )
        try:
            resolve_tile_budget(options.tiles)
        except ValueError as exc:
            raise OptionError(f"minimonkey option tiles={options.tiles!r}: {exc}") from None
        try:
            MsacOrder(options.order)
        except ValueError:
            choices = ", ".join(o.value for o in MsacOrder)
            raise OptionError(
                f"minimonkey option order={options.order!r}: expected one of {choices}"
            ) from None
        return options

    @property
    def budget(self) -> TileBudget:
        """The resolved tile budget."""
        return resolve_tile_budget(self.tiles)


@dataclass
class MiniMonkeyPayload:
    """What a worker prepares per sample: the token ids, the bf16 tiles and the primary grid."""

    input_ids: torch.Tensor
    pixel_values: torch.Tensor
    grid: tuple[int, int]


@dataclass(frozen=True)
class MiniMonkeySamplePreprocessor:
    """Picklable worker step: image -> MSAC tiles (bf16), prompt -> chat query with the image span -> ids."""

    images: MiniMonkeyImagePreprocessor
    tokenizer: InternLM2Tokenizer
    system_message: str | None
    tokens_per_tile: int

    def __call__(self, sample: Sample, prompt: str) -> MiniMonkeyPayload:
        if sample.image_path is None:
            raise FileNotFoundError(sample.error or f"sample {sample.id}: no image path for {sample.image!r}")
        pixel_values, grid = self.images(sample.image_path)
        query = build_query(prompt, pixel_values.shape[0], self.system_message, self.tokens_per_tile)
        input_ids = torch.tensor(self.tokenizer.encode(query), dtype=torch.long)
        return MiniMonkeyPayload(input_ids, pixel_values.to(PIXEL_DTYPE), (int(grid[0]), int(grid[1])))


class MiniMonkeyAdapter(ModelAdapter):
    """Mini-Monkey: MSAC tiles + InternViT + InternLM2, greedy, batched with left padding."""

    family = "minimonkey"
    default_prompt_profile = "minimonkey_vqa"

    def __init__(
        self,
        model: MiniMonkeyForCausalLM,
        tokenizer: InternLM2Tokenizer,
        folder: Path,
        load_options: LoadOptions,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.folder = folder
        self.load_options = load_options
        self.options = MiniMonkeyOptions.parse(load_options.family_options)
        self._checkpoint_sha256 = ""

    @classmethod
    def load(cls, options: LoadOptions) -> MiniMonkeyAdapter:
        """Tokenizer and weights from a local folder or hub id (bf16 on GPU, fp32 on CPU unless --dtype)."""
        if options.trust_remote_code:
            raise OptionError("the minimonkey family is native code; drop --trust-remote-code")
        MiniMonkeyOptions.parse(options.family_options)  # fail before loading weights
        folder = resolve_checkpoint(options.checkpoint)
        tokenizer = InternLM2Tokenizer.from_pretrained(folder)
        model = MiniMonkeyForCausalLM.from_pretrained(folder, device=options.device, dtype=options.dtype)
        vocab = model.config.llm.vocab_size
        if max(tokenizer.img_context_id, tokenizer.im_end_id) >= vocab:
            raise CheckpointError(f"{folder}: tokenizer ids exceed the model vocabulary ({vocab})")
        return cls(model, tokenizer, folder, options)

    @classmethod
    def detect(cls, config: dict[str, Any]) -> bool:
        """Mini-Monkey checkpoints: `architectures` MiniMonkeyChatModel (or a MiniMonkey auto_map)."""
        return is_minimonkey_config(config)

    def configure_task(self, options: dict[str, Any]) -> None:
        """Apply a task's family options, already merged with `--model-option` by the runner."""
        self.options = MiniMonkeyOptions.parse(options)

    def preprocessor(self) -> Callable[[Sample, str], Any]:
        """The worker step for the current options (call after `configure_task`)."""
        return self._preprocessor(self.options, self.tokenizer, self.model.config)

    @classmethod
    def dry_run_preprocessor(cls, options: LoadOptions) -> Callable[[Sample, str], Any] | None:
        """Tiles and token ids from config.json and the tokenizer only (no weights)."""
        folder = resolve_checkpoint(options.checkpoint)
        config = MiniMonkeyConfig.from_folder(folder)
        tokenizer = InternLM2Tokenizer.from_pretrained(folder)
        return cls._preprocessor(MiniMonkeyOptions.parse(options.family_options), tokenizer, config)

    @staticmethod
    def _preprocessor(
        options: MiniMonkeyOptions, tokenizer: InternLM2Tokenizer, config: MiniMonkeyConfig
    ) -> MiniMonkeySamplePreprocessor:
        return MiniMonkeySamplePreprocessor(
            images=MiniMonkeyImagePreprocessor(options.budget, options.order),
            tokenizer=tokenizer,
            system_message=config.system_message,
            tokens_per_tile=config.tokens_per_tile,
        )

    def model_input_text(self, prompt: str) -> str:
        """The chat query before the image span is expanded (the tile count is known only per image)."""
        question = prompt if IMAGE_PLACEHOLDER in prompt else f"{IMAGE_PLACEHOLDER}\n{prompt}"
        return chat_text(question, self.model.config.system_message)

    def context_length(self) -> int | None:
        """llm_config's `max_position_embeddings` (InternVL2-2B: 32768)."""
        return int(self.model.config.llm.max_position_embeddings)

    def input_tokens(self, payload: Any) -> int | None:
        """Prompt ids, every tile's image tokens included."""
        return int(payload.input_ids.numel())

    def generate(self, batch: Sequence[ModelInput], settings: DecodeSettings) -> list[Generation]:
        """Greedy generation of one left-padded batch; samples without a payload give an empty answer."""
        greedy = GreedySettings(
            max_new_tokens=settings.max_new_tokens,
            eos_id=self.tokenizer.im_end_id,
            pad_id=self.tokenizer.pad_id,
            img_context_id=self.tokenizer.img_context_id,
            min_new_tokens=settings.min_new_tokens or 0,
        )
        valid = [item for item in batch if item.payload is not None]
        requests = [
            GenerationRequest(
                input_ids=item.payload.input_ids,
                pixel_values=item.payload.pixel_values,
                primary_tiles=item.payload.grid[0] * item.payload.grid[1],
                use_scm=self.options.use_scm,
            )
            for item in valid
        ]
        results = iter(greedy_generate(self.model, requests, greedy))
        out: list[Generation] = []
        for item in batch:
            if item.payload is None:
                out.append(Generation(text="", n_new_tokens=0, hit_max_new_tokens=False))
                continue
            result = next(results)
            text = answer_from_decoded(self.tokenizer.decode(result.token_ids, skip_special_tokens=True))
            hit_max = not result.stopped_on_eos and len(result.token_ids) >= settings.max_new_tokens
            out.append(Generation(text=text, n_new_tokens=len(result.token_ids), hit_max_new_tokens=hit_max))
        return out

    def fingerprint(self) -> dict[str, Any]:
        """family, checkpoint, sha256 of config/tokenizer/weight files, dtype and the MSAC/SCM options."""
        if not self._checkpoint_sha256:
            self._checkpoint_sha256 = checkpoint_sha256(self.folder, ("config.json", *TOKENIZER_FILES))
        return {
            "family": self.family,
            "checkpoint": self.load_options.checkpoint,
            "checkpoint_sha256": self._checkpoint_sha256,
            "dtype": str(self.model.dtype).replace("torch.", ""),
            "pixel_dtype": str(PIXEL_DTYPE).replace("torch.", ""),
            "tiles": self.options.tiles,
            "tile_budget": asdict(self.options.budget),
            "msac_order": self.options.order,
            "use_scm": self.options.use_scm,
            "pillow": PIL.__version__,  # MSAC tiles are bit-exact to upstream with Pillow < 13 only
            "family_options": dict(self.load_options.family_options),
        }

    def cost(self, sample: Sample, prompt: str) -> int | None:
        """Prefill tokens from the image's header alone: MSAC tiles x tokens_per_tile + the prompt's tokens.

        The tiles are those `msac.msac_tiles` assembles for the current options (both scales and the
        thumbnail, the 2x upscale of MMMU's primary scale), chosen by the same grid functions from the image
        size; no pixel is decoded. Batched answers do not depend on batch composition (per-row prefill and
        padding-aware positions, see generate.py), so the runner may sort by this. An image whose header
        cannot be read counts the prompt alone (its worker records the error).
        """
        config = self.model.config
        text = build_query(prompt, 1, config.system_message, num_image_token=0)  # <img></img>, no context
        tiles = 0
        if sample.image_path is not None and sample.error is None:
            try:
                require_regular_file(sample.image_path)  # a FIFO would block Image.open
                with Image.open(sample.image_path) as image:
                    width, height = image.size
                tiles = self.msac_tile_count(width, height, self.options.budget, self.options.order)
            except (OSError, ValueError, SyntaxError, ZeroDivisionError):
                tiles = 0
        return len(self.tokenizer.encode(text)) + tiles * config.tokens_per_tile

    @staticmethod
    def msac_tile_count(width: int, height: int, budget: TileBudget, order: MsacOrder | str) -> int:
        """How many tiles `msac.msac_tiles` gives an image of this size (upstream's literal slicing kept):
        the primary grid (from the 2x size under `upscale_2x`), the secondary grid unless it is the 1x1
        fallback, and one thumbnail when the scale that keeps it has more than one tile."""
        primary_w, primary_h = (width * 2, height * 2) if budget.upscale_2x else (width, height)
        primary = find_closest_aspect_ratio(
            primary_w / primary_h, candidate_grids(budget.min_num1, budget.max_num1), primary_w, primary_h
        )
        survivors = secondary_candidates(budget.min_num2, budget.max_num2, primary)
        secondary = find_closest_aspect_ratio(width / height, survivors, width, height)
        n_primary, n_secondary = primary[0] * primary[1], secondary[0] * secondary[1]
        if MsacOrder(order) is MsacOrder.PRIMARY_FIRST:  # P[:-1] + S[:-1] + P[-1:], P with its thumbnail
            return n_primary + (n_primary > 1) + (n_secondary if n_secondary > 1 else 0)
        return n_secondary + (n_secondary > 1) + (n_primary if n_primary > 1 else 0)
