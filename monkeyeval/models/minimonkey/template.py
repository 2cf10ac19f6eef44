"""The internlm2-chat prompt of Mini-Monkey / InternVL2 `chat`, with the image span, and the answer cut.

    <|im_start|>system\\n{SYS}<|im_end|><|im_start|>user\\n{question}<|im_end|><|im_start|>assistant\\n

(MPT separator style: no newlines between turns.) The first `<image>` of the question (prefixed as
`<image>\\n` when absent) is then replaced by `<img>` + `<IMG_CONTEXT>` x (256 * tiles) + `</img>`; the
tokenizer adds `<s>`.
"""

from __future__ import annotations

from monkeyeval.models.minimonkey.tokenizer import IM_END, IM_START, IMG_CONTEXT, IMG_END, IMG_START

IMAGE_PLACEHOLDER = "<image>"
NUM_IMAGE_TOKENS_PER_TILE = 256
INTERNVL_SYSTEM_MESSAGE = (
    "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，"
    "英文名叫InternVL, 是一个有用无害的人工智能助手。"
)


def image_span(num_tiles: int, num_image_token: int = NUM_IMAGE_TOKENS_PER_TILE) -> str:
    """`<img>` + `<IMG_CONTEXT>` x (num_image_token * num_tiles) + `</img>`."""
    return IMG_START + IMG_CONTEXT * (num_image_token * num_tiles) + IMG_END


def chat_text(question: str, system_message: str | None = None) -> str:
    """The internlm2-chat conversation for one user turn, ready for the assistant (no image expansion)."""
    system = INTERNVL_SYSTEM_MESSAGE if system_message is None else system_message
    return f"{IM_START}system\n{system}{IM_END}{IM_START}user\n{question}{IM_END}{IM_START}assistant\n"


def build_query(
    question: str,
    num_tiles: int,
    system_message: str | None = None,
    num_image_token: int = NUM_IMAGE_TOKENS_PER_TILE,
) -> str:
    """The exact text upstream `chat` tokenizes for one image of `num_tiles` tiles.

    `system_message` None means InternVL's default (pass `config.system_message` when the checkpoint has one).
    With `num_tiles` 0 the question is used as is (text-only chat).
    """
    if num_tiles < 0:
        raise ValueError(f"num_tiles must be >= 0, got {num_tiles}")
    if num_tiles > 0 and IMAGE_PLACEHOLDER not in question:
        question = IMAGE_PLACEHOLDER + "\n" + question
    query = chat_text(question, system_message)
    if num_tiles > 0:
        query = query.replace(IMAGE_PLACEHOLDER, image_span(num_tiles, num_image_token), 1)
    return query


def answer_from_decoded(text: str) -> str:
    """Upstream's answer: the decoded text cut at the first `<|im_end|>`, stripped."""
    return text.split(IM_END, 1)[0].strip()
