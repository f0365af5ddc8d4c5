"""Three transformer families on shared blocks (nanoGPT-sized and -styled).

- `DecoderOnlyLM`  (arch "gpt"):  causal self-attention; CLM.
- `EncoderOnlyMLM` (arch "bert"): bidirectional self-attention, BERT's MLM head transform; MLM.
- `EncoderDecoder` (arch "t5"):   bidirectional encoder, causal decoder with cross-attention; span
  denoising.

Shared choices (simplifications, said once here): pre-LayerNorm blocks without biases, GELU MLP,
learned absolute positions (T5's relative position bias would force the SDPA math/efficient kernels
instead of flash), LM head tied to the token embedding. Attention is `F.scaled_dot_product_attention`
(flash/cuDNN kernels on GPU for plain causal/bidirectional attention). A document mask is either a
dense (B, 1, T, T) boolean mask through SDPA (`attention="sdpa"`: any device, eager or compiled, but
SDPA then falls back to its memory-efficient kernel and computes every block) or a FlexAttention
BlockMask (`attention="flex"`: compiled into one fused kernel that skips the blocks between
documents; for torch.compile'd runs). Every model's `forward` returns the *sum* of the token losses
(fp32) so the training loop can normalise by the number of target tokens across micro-batches and
ranks.

Shapes: B batch, T (encoder/decoder) length, S encoder length seen by cross-attention, d model
width, H heads, hd = d / H, V model vocabulary, P MLM predictions per row.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

from train.chunked_loss import chunked_lm_loss_sum

IGNORE_INDEX = -100
ARCHS = ("gpt", "bert", "t5")
ATTENTION_IMPLS = ("sdpa", "flex")  # how a document mask is applied (plain attention is always SDPA)


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelConfig:
    arch: str  # "gpt" | "bert" | "t5"
    vocab_size: int  # the padded model vocabulary (train.vocab.VocabLayout.model_vocab_size)
    n_layer: int  # encoder layers for t5
    n_head: int
    d_model: int
    d_ff: int
    max_seq_len: int
    n_decoder_layer: int = 0  # t5 only
    dropout: float = 0.0
    attention: str = "sdpa"  # document masks: "sdpa" (dense bool mask) | "flex" (BlockMask)
    loss_chunk: int = 0  # > 0: LM head + loss this many tokens at a time (train.chunked_loss)

    def to_json(self) -> dict:
        return {f: getattr(self, f) for f in self.__slots__}


# Sizes only; the objective picks the architecture (clm -> gpt, mlm -> bert, span -> t5).
PRESETS: dict[str, dict] = {
    "tiny": dict(n_layer=2, n_head=2, d_model=64, d_ff=256, max_seq_len=256, n_decoder_layer=2),
    "mini": dict(n_layer=4, n_head=4, d_model=256, d_ff=1024, max_seq_len=512, n_decoder_layer=4),
    "gpt2-124m": dict(n_layer=12, n_head=12, d_model=768, d_ff=3072, max_seq_len=1024),
    "gpt2-350m": dict(n_layer=24, n_head=16, d_model=1024, d_ff=4096, max_seq_len=1024),
    "bert-base": dict(n_layer=12, n_head=12, d_model=768, d_ff=3072, max_seq_len=512),
    "t5-small": dict(n_layer=6, n_head=8, d_model=512, d_ff=2048, max_seq_len=512, n_decoder_layer=6),
}
DEFAULT_SEQ_LEN = {"tiny": 64, "mini": 256}  # others: the preset's max_seq_len


def model_config(preset: str, arch: str, vocab_size: int, **overrides) -> ModelConfig:
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
    sizes = dict(PRESETS[preset])
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
    return config


# ----------------------------------------------------------------------------------------------
# shared blocks


class Attention(nn.Module):
    """Multi-head self- or cross-attention through F.scaled_dot_product_attention."""

    def __init__(self, config: ModelConfig, *, cross: bool):
        super().__init__()
        if config.d_model % config.n_head:
            raise ValueError(f"d_model {config.d_model} is not divisible by n_head {config.n_head}")
        d = config.d_model
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.cross = cross
        if cross:
            self.q_proj = nn.Linear(d, d, bias=False)
            self.kv_proj = nn.Linear(d, 2 * d, bias=False)
        else:
            self.qkv_proj = nn.Linear(d, 3 * d, bias=False)
        self.out_proj = nn.Linear(d, d, bias=False)

    def forward(self, x, context=None, attn_mask=None, is_causal: bool = False):
        # x: (B, T, d); context: (B, S, d) for cross-attention;
        # attn_mask: (B, 1, T, S) bool or a FlexAttention BlockMask (which then carries causality)
        B, T, d = x.shape
        if self.cross:
            q = self.q_proj(x)  # (B, T, d)
            k, v = self.kv_proj(context).split(d, dim=2)  # (B, S, d) each
        else:
            q, k, v = self.qkv_proj(x).split(d, dim=2)  # (B, T, d) each
        hd = d // self.n_head
        q = q.view(B, T, self.n_head, hd).transpose(1, 2)  # (B, H, T, hd)
        k = k.view(B, -1, self.n_head, hd).transpose(1, 2)  # (B, H, S, hd)
        v = v.view(B, -1, self.n_head, hd).transpose(1, 2)  # (B, H, S, hd)
        if isinstance(attn_mask, BlockMask):
            y = flex_attention(q, k, v, block_mask=attn_mask)  # (B, H, T, hd)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v,
                attn_mask=attn_mask,
                dropout_p=self.dropout if self.training else 0.0,
                is_causal=is_causal and attn_mask is None,
            )  # (B, H, T, hd)
        y = y.transpose(1, 2).contiguous().view(B, T, d)  # (B, T, d)
        return self.out_proj(y)


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.up_proj = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.down_proj = nn.Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):  # (B, T, d) -> (B, T, d_ff) -> (B, T, d)
        return self.dropout(self.down_proj(F.gelu(self.up_proj(x), approximate="tanh")))


class Block(nn.Module):
    """Pre-LN transformer block; `cross=True` adds cross-attention (T5 decoder)."""

    def __init__(self, config: ModelConfig, *, cross: bool = False):
        super().__init__()
        self.ln_self = nn.LayerNorm(config.d_model, bias=False)
        self.self_attn = Attention(config, cross=False)
        self.ln_cross = nn.LayerNorm(config.d_model, bias=False) if cross else None
        self.cross_attn = Attention(config, cross=True) if cross else None
        self.ln_mlp = nn.LayerNorm(config.d_model, bias=False)
        self.mlp = MLP(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x, attn_mask=None, is_causal: bool = False, context=None):
        # x: (B, T, d); context: (B, S, d) encoder output for cross-attention
        x = x + self.dropout(self.self_attn(self.ln_self(x), attn_mask=attn_mask, is_causal=is_causal))
        if self.cross_attn is not None:
            x = x + self.dropout(self.cross_attn(self.ln_cross(x), context=context))
        return x + self.mlp(self.ln_mlp(x))


def document_attention_mask(doc_ids, causal: bool):
    """doc_ids: (B, T) -> (B, 1, T, T) bool, True where query and key are in the same document
    (and key <= query when causal)."""
    same = doc_ids[:, :, None] == doc_ids[:, None, :]  # (B, T, T)
    if causal:
        T = doc_ids.shape[1]
        same = same & torch.ones(T, T, dtype=torch.bool, device=doc_ids.device).tril()
    return same.unsqueeze(1)


def document_block_mask(doc_ids, causal: bool) -> BlockMask:
    """doc_ids: (B, T) -> a FlexAttention BlockMask with the same pattern as document_attention_mask;
    blocks whose query and key documents never meet are skipped by the kernel, not computed and
    masked."""
    B, T = doc_ids.shape

    def same_document(b, h, q_idx, kv_idx):
        return doc_ids[b, q_idx] == doc_ids[b, kv_idx]

    def same_document_causal(b, h, q_idx, kv_idx):
        return (doc_ids[b, q_idx] == doc_ids[b, kv_idx]) & (kv_idx <= q_idx)

    mask_mod = same_document_causal if causal else same_document
    return create_block_mask(mask_mod, B, None, T, T, device=doc_ids.device)


class _TransformerBase(nn.Module):
    """Token + position embeddings, weight init and the tied LM head shared by all three."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)  # (V, d); also the LM head
        self.pos_emb = nn.Embedding(config.max_seq_len, config.d_model)  # (T_max, d)
        self.drop = nn.Dropout(config.dropout)

    def _init_weights(self, num_layers: int) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
        # GPT-2: scale the residual-branch output projections by 1/sqrt(2 * layers)
        for name, param in self.named_parameters():
            if name.endswith(("out_proj.weight", "down_proj.weight")):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * num_layers))

    def embed(self, input_ids, position_ids=None):
        # input_ids: (B, T); position_ids: (B, T) or None (0..T-1) -> (B, T, d)
        T = input_ids.shape[1]
        if T > self.config.max_seq_len:
            raise ValueError(f"sequence length {T} > max_seq_len {self.config.max_seq_len}")
        if position_ids is None:
            position_ids = torch.arange(T, device=input_ids.device)
        return self.drop(self.tok_emb(input_ids) + self.pos_emb(position_ids))

    def document_mask(self, doc_ids, causal: bool):
        """The attention mask for packed documents (None: no document masking)."""
        if doc_ids is None:
            return None
        if self.config.attention == "flex":
            return document_block_mask(doc_ids, causal)
        return document_attention_mask(doc_ids, causal)

    def lm_loss_sum(self, hidden, labels):
        # hidden: (B, N, d), labels: (B, N) -> summed cross-entropy over labels != IGNORE_INDEX
        if self.config.loss_chunk > 0:  # never the whole (B*N, V) logits at once
            return chunked_lm_loss_sum(hidden, self.tok_emb.weight, labels,
                                       chunk_tokens=self.config.loss_chunk, ignore_index=IGNORE_INDEX)
        logits = F.linear(hidden, self.tok_emb.weight)  # (B, N, V)
        return F.cross_entropy(
            logits.float().view(-1, logits.size(-1)), labels.reshape(-1),
            ignore_index=IGNORE_INDEX, reduction="sum",
        )

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; nanoGPT's convention drops the position table (the tied token table
        stays: it is the LM head's weight)."""
        total = sum(p.numel() for p in self.parameters())
        return total - self.pos_emb.weight.numel() if non_embedding else total


class DecoderOnlyLM(_TransformerBase):
    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model, bias=False)
        self._init_weights(config.n_layer)

    def forward(self, input_ids, labels=None, doc_ids=None, position_ids=None):
        # input_ids, labels, doc_ids, position_ids: (B, T)
        x = self.embed(input_ids, position_ids)  # (B, T, d)
        mask = self.document_mask(doc_ids, causal=True)
        for block in self.blocks:
            x = block(x, attn_mask=mask, is_causal=True)
        x = self.ln_f(x)
        if labels is None:
            return F.linear(x, self.tok_emb.weight)  # logits (B, T, V)
        return self.lm_loss_sum(x, labels)


class EncoderOnlyMLM(_TransformerBase):
    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model, bias=False)
        # BERT's prediction-head transform before the tied decoder: dense, GELU, LayerNorm
        self.head_dense = nn.Linear(config.d_model, config.d_model, bias=False)
        self.head_ln = nn.LayerNorm(config.d_model, bias=False)
        self._init_weights(config.n_layer)

    def encode(self, input_ids, doc_ids=None, position_ids=None):
        x = self.embed(input_ids, position_ids)  # (B, T, d)
        mask = self.document_mask(doc_ids, causal=False)
        for block in self.blocks:
            x = block(x, attn_mask=mask)
        return self.ln_f(x)  # (B, T, d)

    def forward(self, input_ids, mlm_positions, mlm_labels, doc_ids=None, position_ids=None):
        # input_ids: (B, T); mlm_positions, mlm_labels: (B, P) (label IGNORE_INDEX = unused slot)
        x = self.encode(input_ids, doc_ids, position_ids)
        # only the chosen positions go through the head: (B, P, d)
        picked = x.gather(1, mlm_positions.unsqueeze(-1).expand(-1, -1, x.size(-1)))
        picked = self.head_ln(F.gelu(self.head_dense(picked), approximate="tanh"))
        return self.lm_loss_sum(picked, mlm_labels)


class EncoderDecoder(_TransformerBase):
    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.encoder = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_enc = nn.LayerNorm(config.d_model, bias=False)
        self.decoder = nn.ModuleList(Block(config, cross=True) for _ in range(config.n_decoder_layer))
        self.ln_dec = nn.LayerNorm(config.d_model, bias=False)
        self._init_weights(config.n_layer + config.n_decoder_layer)

    def forward(self, input_ids, decoder_input_ids, labels=None):
        # input_ids: (B, S); decoder_input_ids, labels: (B, T)
        memory = self.embed(input_ids)  # (B, S, d)
        for block in self.encoder:
            memory = block(memory)
        memory = self.ln_enc(memory)
        x = self.embed(decoder_input_ids)  # (B, T, d)
        for block in self.decoder:
            x = block(x, is_causal=True, context=memory)
        x = self.ln_dec(x)
        if labels is None:
            return F.linear(x, self.tok_emb.weight)  # logits (B, T, V)
        return self.lm_loss_sum(x, labels)


MODEL_CLASSES = {"gpt": DecoderOnlyLM, "bert": EncoderOnlyMLM, "t5": EncoderDecoder}


def build_model(config: ModelConfig) -> _TransformerBase:
    return MODEL_CLASSES[config.arch](config)
