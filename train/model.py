"""Three GPT-style transformer families on shared blocks (nanoGPT-sized and -styled); the
Llama-style decoder (arch "llama") is in train.llama.

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

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention.flex_attention import BlockMask, flex_attention

from train.layers import IGNORE_INDEX, document_mask, lm_loss_sum, run_block
from train.llama import LlamaLM
from train.model_config import (ARCHS, ATTENTION_IMPLS, DEFAULT_SEQ_LEN, PRESETS, ModelConfig,  # noqa: F401
                                arch_for, model_config)

# ----------------------------------------------------------------------------------------------
# shared blocks


class Attention(nn.Module):
    """Multi-head self- or cross-attention through F.scaled_dot_product_attention."""

    def __init__(self, config: ModelConfig, *, cross: bool):
        super().__init__()
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
        return document_mask(self.config, doc_ids, causal)

    def lm_loss_sum(self, hidden, labels):
        # hidden: (B, N, d), labels: (B, N) -> summed cross-entropy over labels != IGNORE_INDEX
        return lm_loss_sum(self.config, hidden, self.tok_emb.weight, labels)

    def transformer_blocks(self) -> list[nn.Module]:
        """The repeated blocks: FSDP shards each one as a unit."""
        return list(self.blocks)

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
            x = run_block(block, self.config, x, attn_mask=mask, is_causal=True)
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
            x = run_block(block, self.config, x, attn_mask=mask)
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

    def transformer_blocks(self) -> list[nn.Module]:
        return [*self.encoder, *self.decoder]

    def forward(self, input_ids, decoder_input_ids, labels=None):
        # input_ids: (B, S); decoder_input_ids, labels: (B, T)
        memory = self.embed(input_ids)  # (B, S, d)
        for block in self.encoder:
            memory = run_block(block, self.config, memory)
        memory = self.ln_enc(memory)
        x = self.embed(decoder_input_ids)  # (B, T, d)
        for block in self.decoder:
            x = run_block(block, self.config, x, is_causal=True, context=memory)
        x = self.ln_dec(x)
        if labels is None:
            return F.linear(x, self.tok_emb.weight)  # logits (B, T, V)
        return self.lm_loss_sum(x, labels)


def build_model(config: ModelConfig) -> nn.Module:
    classes = {"gpt": DecoderOnlyLM, "bert": EncoderOnlyMLM, "t5": EncoderDecoder, "llama": LlamaLM}
    return classes[config.arch](config)
