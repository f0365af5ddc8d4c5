"""Model shapes: ModelConfig, the size presets, and which architecture an objective trains.

An objective names a model *family* (decoder, encoder, encoder-decoder); a preset names a block
*style* ("gpt": GPT-2-style pre-LayerNorm blocks with learned positions; "llama": RMSNorm, RoPE,
SwiGLU, grouped-query attention). Together they give the architecture (`arch_for`). Llama-style
blocks are built for the decoder only.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

ARCHS = ("gpt", "bert", "t5", "llama")
ATTENTION_IMPLS = ("sdpa", "flex")  # how a document mask is applied (plain attention is always SDPA)
Arch = Literal["gpt", "bert", "t5", "llama"]

# (objective's model family, preset's block style) -> architecture
_ARCH_BY_FAMILY_AND_STYLE: dict[tuple[str, str], str] = {
    ("decoder", "gpt"): "gpt",
    ("encoder", "gpt"): "bert",
    ("encoder-decoder", "gpt"): "t5",
    ("decoder", "llama"): "llama",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelConfig:
    arch: Arch
    vocab_size: int  # the padded model vocabulary (train.vocab.VocabLayout.model_vocab_size)
    n_layer: int  # encoder layers for t5
    n_head: int
    d_model: int
    d_ff: int  # MLP hidden width (llama: of each of SwiGLU's gate and up projections)
    max_seq_len: int  # gpt/bert/t5: rows of the position table; llama: the longest window (RoPE)
    n_decoder_layer: int = 0  # t5 only
    n_kv_head: int | None = None  # llama: key/value heads (grouped-query attention); None = n_head
    tie_embeddings: bool = True  # LM head = token embedding (gpt/bert/t5 always; llama by preset)
    rope_theta: float = 10000.0  # llama: RoPE base
    norm_eps: float = 1e-5  # llama: RMSNorm epsilon (gpt/bert/t5 LayerNorm use torch's 1e-5)
    dropout: float = 0.0
    attention: str = "sdpa"  # document masks: "sdpa" (dense bool mask) | "flex" (BlockMask)
    loss_chunk: int = 0  # > 0: LM head + loss this many tokens at a time (train.chunked_loss)
    activation_checkpointing: bool = False  # recompute each block in the backward (training only)

    def to_json(self) -> dict:
        return {f: getattr(self, f) for f in self.__slots__}

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def num_kv_heads(self) -> int:
        return self.n_kv_head or self.n_head

    # Training FLOPs (forward + backward = 3 x forward, a multiply-add = 2 FLOPs: 6 per weight per
    # token), the parts the objectives add up; see train.flops.
    def layer_flops_per_token(self) -> float:
        """One layer's weight matmuls per token: attention projections and the MLP."""
        d = self.d_model
        if self.arch == "llama":  # q and out d x d; k and v d x (kv heads x head dim); 3 MLP matrices
            attention = 2 * d * d + 2 * d * self.num_kv_heads * self.head_dim
            return 6.0 * (attention + 3 * d * self.d_ff)
        return 6.0 * (4 * d * d + 2 * d * self.d_ff)  # qkv + out (4 d^2), MLP (2 d d_ff)

    def attention_flops_per_token(self, num_layers: int, context_len: int) -> float:
        """QK^T and AV: 2 matmuls x 2 FLOPs x context x d, forward; x 3 for training."""
        return 12.0 * num_layers * context_len * self.d_model

    def head_flops_per_token(self) -> float:
        """The LM head (tied or not), per token that goes through it."""
        return 6.0 * self.vocab_size * self.d_model


# Sizes (and, for llama-*, the block style); the objective picks the family.
PRESETS: dict[str, dict] = {
    "tiny": dict(n_layer=2, n_head=2, d_model=64, d_ff=256, max_seq_len=256, n_decoder_layer=2),
    "mini": dict(n_layer=4, n_head=4, d_model=256, d_ff=1024, max_seq_len=512, n_decoder_layer=4),
    "gpt2-124m": dict(n_layer=12, n_head=12, d_model=768, d_ff=3072, max_seq_len=1024),
    "gpt2-350m": dict(n_layer=24, n_head=16, d_model=1024, d_ff=4096, max_seq_len=1024),
    "bert-base": dict(n_layer=12, n_head=12, d_model=768, d_ff=3072, max_seq_len=512),
    "t5-small": dict(n_layer=6, n_head=8, d_model=512, d_ff=2048, max_seq_len=512, n_decoder_layer=6),
    # Llama-style decoders: untied embeddings except llama-1b (Llama 3.2 1B's shape: 16 layers,
    # d 2048, 32 query / 8 key-value heads, SwiGLU 8192, tied, RoPE base 500,000)
    "llama-tiny": dict(style="llama", n_layer=2, n_head=4, n_kv_head=2, d_model=64, d_ff=160,
                       max_seq_len=256, tie_embeddings=False),
    "llama-mini": dict(style="llama", n_layer=4, n_head=8, n_kv_head=4, d_model=256, d_ff=688,
                       max_seq_len=512, tie_embeddings=False),
    "llama-150m": dict(style="llama", n_layer=12, n_head=12, n_kv_head=4, d_model=768, d_ff=2048,
                       max_seq_len=2048, tie_embeddings=False),
    "llama-1b": dict(style="llama", n_layer=16, n_head=32, n_kv_head=8, d_model=2048, d_ff=8192,
                     max_seq_len=2048, tie_embeddings=True, rope_theta=500000.0),
}
DEFAULT_SEQ_LEN = {"tiny": 64, "mini": 256, "llama-tiny": 64, "llama-mini": 256,
                   "llama-150m": 1024, "llama-1b": 2048}  # others: the preset's max_seq_len


def preset_style(preset: str) -> str:
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[preset].get("style", "gpt")


def arch_for(model_family: str, preset: str) -> str:
    """The architecture an objective's model family gets with this preset's block style."""
    style = preset_style(preset)
    arch = _ARCH_BY_FAMILY_AND_STYLE.get((model_family, style))
    if arch is None:
        trains = sorted(family for family, s in _ARCH_BY_FAMILY_AND_STYLE if s == style)
        raise ValueError(f"--model {preset} has {style}-style blocks, built for the {', '.join(trains)} "
                         f"family only, not {model_family}; use --objective clm or a GPT-style preset "
                         f"(tiny, mini, bert-base, t5-small)")
    return arch


def model_config(preset: str, arch: str, vocab_size: int, **overrides) -> ModelConfig:
    style = preset_style(preset)
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
    if (arch == "llama") != (style == "llama"):
        raise ValueError(f"preset {preset!r} ({style}-style) cannot build arch {arch!r}")
    sizes = {k: v for k, v in PRESETS[preset].items() if k != "style"}
    if arch == "t5":
        sizes["n_decoder_layer"] = sizes.get("n_decoder_layer") or sizes["n_layer"]
    else:
        sizes["n_decoder_layer"] = 0
    config = ModelConfig(arch=arch, vocab_size=vocab_size, **sizes)
    config = replace(config, **overrides) if overrides else config
    if config.attention not in ATTENTION_IMPLS:
        raise ValueError(f"unknown attention {config.attention!r}; choose one of {', '.join(ATTENTION_IMPLS)}")
    if config.attention == "flex" and config.dropout > 0:
        raise ValueError("FlexAttention has no attention dropout; use attention='sdpa' with dropout > 0")
    if config.d_model % config.n_head:
        raise ValueError(f"d_model {config.d_model} is not divisible by n_head {config.n_head}")
    if config.n_head % config.num_kv_heads:
        raise ValueError(f"n_head {config.n_head} is not a multiple of n_kv_head {config.num_kv_heads}")
    if arch != "llama" and not config.tie_embeddings:
        raise ValueError(f"arch {arch!r} always ties its LM head to the token embedding")
    return config
