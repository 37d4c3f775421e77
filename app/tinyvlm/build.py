"""Make a real, tiny LLaVA model on disk, with no model hub.

Tests and the embedded demo need a vision-language model that every backend (transformers,
vLLM) loads like any downloaded one. This builds `LlavaForConditionalGeneration` (CLIP vision
tower + Llama text model + projector) with a locally trained byte-level BPE tokenizer, a chat
template and a `LlavaProcessor`, and saves it with the classic llava-hf weight names that
vLLM expects (transformers reads them too).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import (
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

PAD, BOS, EOS, IMAGE = "<pad>", "<s>", "</s>", "<image>"
SYSTEM, USER, ASSISTANT = "<|system|>", "<|user|>", "<|assistant|>"
SPECIAL_TOKENS = [PAD, BOS, EOS, IMAGE, SYSTEM, USER, ASSISTANT]

# Works for plain string content and for OpenAI-style content lists (vLLM passes image_url
# parts as {"type": "image"}); every assistant turn ends with the EOS token. Images come after
# the turn's text: the image tokens can then attend to the question (causal attention), which
# lets a tiny model learn to ground its answers in far fewer steps.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}<|system|>"
    "{% elif message['role'] == 'user' %}<|user|>"
    "{% else %}<|assistant|>{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% for part in message['content'] %}"
    "{% if part['type'] in ['image', 'image_url', 'input_image'] %}<image>{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

DEFAULT_TEXTS = [
    "A red circle on the left and a blue square on the right.",
    "There are three shapes: a green triangle, a yellow star and a purple circle.",
    "What colour is the shape on the left? It is orange.",
    "How many shapes are in the image? There are two shapes.",
    "Is there a red circle? Yes. Is there a blue star? No.",
    "The largest shape is a big white square in the center of the picture.",
    "Describe the image. A small black triangle at the top, a large pink star at the bottom.",
    "Hello! I am a tiny vision language model. I can see pictures and answer questions.",
    "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9, . ? ! ' \" ( ) : ;",
]


@dataclass(frozen=True)
class TinyLlavaSpec:
    """Sizes of the model. Defaults are ones vLLM's CPU kernels accept (text head_dim 64)."""

    vocab_size: int = 800
    image_size: int = 56
    patch_size: int = 14
    vision_hidden: int = 32
    vision_intermediate: int = 64
    vision_layers: int = 2
    vision_heads: int = 2
    text_hidden: int = 128
    text_intermediate: int = 256
    text_layers: int = 2
    text_heads: int = 2
    text_kv_heads: int = 1
    max_position_embeddings: int = 512
    vision_feature_layer: int = -2  # -1 uses the last vision layer (trained models want it)

    @property
    def image_tokens(self) -> int:
        """How many `<image>` placeholders one image expands to (CLS dropped)."""
        return (self.image_size // self.patch_size) ** 2


def build_tokenizer(
    texts: list[str] | None = None, vocab_size: int = 800
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts` (any byte string stays encodable) with chat markers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts or DEFAULT_TEXTS, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        extra_special_tokens={"image_token": IMAGE},
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(tokenizer: PreTrainedTokenizerFast, spec: TinyLlavaSpec) -> LlavaProcessor:
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": spec.image_size},
        crop_size={"height": spec.image_size, "width": spec.image_size},
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=spec.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )


def build_config(tokenizer: PreTrainedTokenizerFast, spec: TinyLlavaSpec) -> LlavaConfig:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    ids = {
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    vision = CLIPVisionConfig(
        hidden_size=spec.vision_hidden,
        intermediate_size=spec.vision_intermediate,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.vision_heads,
        image_size=spec.image_size,
        patch_size=spec.patch_size,
        projection_dim=spec.vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.text_hidden,
        intermediate_size=spec.text_intermediate,
        num_hidden_layers=spec.text_layers,
        num_attention_heads=spec.text_heads,
        num_key_value_heads=spec.text_kv_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=False,
        **ids,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE),
        image_seq_length=spec.image_tokens,
        vision_feature_select_strategy="default",
        vision_feature_layer=spec.vision_feature_layer,
        projector_hidden_act="gelu",
        tie_word_embeddings=False,
        **ids,
    )


# transformers 5 names -> classic llava-hf names (what vLLM's llava loader expects). Recent
# transformers already saves most keys the classic way, but not `vision_tower.vision_model.`.
_CLASSIC_PREFIXES = [
    ("model.vision_tower.", "vision_tower."),
    ("model.multi_modal_projector.", "multi_modal_projector."),
    ("model.language_model.", "language_model.model."),
    ("lm_head.", "language_model.lm_head."),
]


def classic_llava_key(key: str) -> str:
    for new, old in _CLASSIC_PREFIXES:
        if key.startswith(new):
            key = old + key[len(new) :]
            break
    if key.startswith("vision_tower.") and not key.startswith("vision_tower.vision_model."):
        key = "vision_tower.vision_model." + key[len("vision_tower.") :]
    return key


def rename_to_classic_keys(out_dir: Path) -> None:
    """Rewrite every safetensors file in `out_dir` with classic llava-hf key names."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    for file in sorted(out_dir.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {classic_llava_key(k): handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
        save_file(tensors, str(file), metadata={**metadata, "format": "pt"})
    index = out_dir / "model.safetensors.index.json"
    if index.exists():
        data = json.loads(index.read_text())
        data["weight_map"] = {classic_llava_key(k): v for k, v in data["weight_map"].items()}
        index.write_text(json.dumps(data, indent=2))


def save_llava(
    model: LlavaForConditionalGeneration, processor: LlavaProcessor, out_dir: Path
) -> Path:
    """Save model + processor so transformers' Auto classes and vLLM both load `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    rename_to_classic_keys(out_dir)
    return out_dir


def new_tiny_llava(
    *,
    seed: int = 0,
    vocab_texts: list[str] | None = None,
    spec: TinyLlavaSpec | None = None,
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """A randomly initialised model and its processor, in memory (for training or saving)."""
    import torch
    from transformers import GenerationConfig, LlavaForConditionalGeneration

    spec = spec or TinyLlavaSpec()
    tokenizer = build_tokenizer(vocab_texts, spec.vocab_size)
    processor = build_processor(tokenizer, spec)
    config = build_config(tokenizer, spec)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    # An untrained model samples any token: it must never answer with nothing (end of
    # sequence first) or with markup the decoder drops (the other special tokens), or an
    # "every answer is non-empty" check becomes a coin toss over hundreds of answers.
    markup = [tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS if t != EOS]
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=64,
        min_new_tokens=1,
        suppress_tokens=markup,
    )
    return model, processor


def build_tiny_llava(
    out_dir: Path,
    *,
    seed: int = 0,
    vocab_texts: list[str] | None = None,
    spec: TinyLlavaSpec | None = None,
) -> Path:
    """Create a random-weight tiny LLaVA in `out_dir`; returns `out_dir`."""
    model, processor = new_tiny_llava(seed=seed, vocab_texts=vocab_texts, spec=spec)
    out_dir = save_llava(model, processor, Path(out_dir))
    (out_dir / "tiny_llava_spec.json").write_text(
        json.dumps({"seed": seed, **asdict(spec or TinyLlavaSpec())}, indent=2)
    )
    return out_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a tiny random-weight LLaVA model.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build_tiny_llava(args.out_dir, seed=args.seed))


if __name__ == "__main__":
    main()
