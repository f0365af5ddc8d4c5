"""A Llama-style decoder (arch "llama"): RMSNorm, rotary position embeddings, SwiGLU MLP, no biases,
grouped-query attention, the LM head tied to the token embedding or not.

The maths follows Hugging Face's LlamaForCausalLM step for step (RMSNorm in fp32 then cast back;
RoPE in the "rotate half" layout with cos/sin computed in fp32; key/value heads repeated for each
group of query heads), so train.export_hf writes the weights under its names without any
permutation and transformers computes the same logits. With a document mask, `position_ids`
restart at 0 in every document, so each document is rotated as if it stood alone.

Shapes: B batch, T length, d model width, H query heads, K key/value heads, hd = d / H, V vocab.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention.flex_attention import BlockMask, flex_attention

from train.layers import document_mask, lm_loss_sum, run_block
from train.model_config import ModelConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):  # (..., d) -> (..., d), normalised in fp32
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


class RotaryEmbedding(nn.Module):
    def __init__(self, head_dim: int, theta: float):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)  # (hd/2,); derived, not saved

    def forward(self, position_ids, dtype):
        # position_ids: (B, T) -> cos, sin: (B, 1, T, hd), in fp32 whatever autocast says, then cast
        with torch.autocast(device_type=position_ids.device.type, enabled=False):
            freqs = position_ids[:, :, None].float() * self.inv_freq[None, None, :].float()  # (B, T, hd/2)
            angles = torch.cat([freqs, freqs], dim=-1)  # (B, T, hd)
            return angles.cos()[:, None].to(dtype), angles.sin()[:, None].to(dtype)


def rotate_half(x):  # (..., hd): [x1, x2] -> [-x2, x1]
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class LlamaAttention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        d, hd = config.d_model, config.head_dim
        self.n_head, self.n_kv_head, self.head_dim = config.n_head, config.num_kv_heads, hd
        self.q_proj = nn.Linear(d, self.n_head * hd, bias=False)
        self.k_proj = nn.Linear(d, self.n_kv_head * hd, bias=False)
        self.v_proj = nn.Linear(d, self.n_kv_head * hd, bias=False)
        self.o_proj = nn.Linear(self.n_head * hd, d, bias=False)
        self.dropout = config.dropout

    def forward(self, x, cos, sin, attn_mask=None):
        # x: (B, T, d); cos, sin: (B, 1, T, hd); attn_mask: (B, 1, T, T) bool, a BlockMask or None
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, hd)
        k = self.k_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, K, T, hd)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, K, T, hd)
        # back to the projections' dtype: under bf16 autocast cos/sin are fp32 (the embedding output
        # is), and flex_attention, unlike SDPA, is not cast by autocast and wants one dtype
        q = (q * cos + rotate_half(q) * sin).to(v.dtype)
        k = (k * cos + rotate_half(k) * sin).to(v.dtype)
        if self.n_kv_head != self.n_head:  # each key/value head serves H / K consecutive query heads
            k = k.repeat_interleave(self.n_head // self.n_kv_head, dim=1)  # (B, H, T, hd)
            v = v.repeat_interleave(self.n_head // self.n_kv_head, dim=1)
        if isinstance(attn_mask, BlockMask):
            y = flex_attention(q, k, v, block_mask=attn_mask)  # (B, H, T, hd)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=attn_mask is None,
                                               dropout_p=self.dropout if self.training else 0.0)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim))


class SwiGLU(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.up_proj = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.down_proj = nn.Linear(config.d_ff, config.d_model, bias=False)

    def forward(self, x):  # (B, T, d) -> (B, T, d_ff) -> (B, T, d)
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaBlock(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.attn_norm = RMSNorm(config.d_model, config.norm_eps)
        self.attn = LlamaAttention(config)
        self.mlp_norm = RMSNorm(config.d_model, config.norm_eps)
        self.mlp = SwiGLU(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x, cos, sin, attn_mask=None):  # (B, T, d) -> (B, T, d)
        x = x + self.dropout(self.attn(self.attn_norm(x), cos, sin, attn_mask))
        return x + self.dropout(self.mlp(self.mlp_norm(x)))


class LlamaLM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)  # (V, d)
        self.rotary = RotaryEmbedding(config.head_dim, config.rope_theta)
        self.blocks = nn.ModuleList(LlamaBlock(config) for _ in range(config.n_layer))
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.lm_head = None if config.tie_embeddings else nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.drop = nn.Dropout(config.dropout)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
        # GPT-2's scaling of the residual-branch output projections by 1/sqrt(2 * layers)
        for name, param in self.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @property
    def head_weight(self) -> torch.Tensor:  # (V, d)
        return self.tok_emb.weight if self.lm_head is None else self.lm_head.weight

    def transformer_blocks(self) -> list[nn.Module]:
        return list(self.blocks)

    def num_params(self, non_embedding: bool = True) -> int:
        """Every parameter once (a tied head is the embedding); there is no position table."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, input_ids, labels=None, doc_ids=None, position_ids=None):
        # input_ids, labels, doc_ids, position_ids: (B, T)
        B, T = input_ids.shape
        if T > self.config.max_seq_len:
            raise ValueError(f"sequence length {T} > max_seq_len {self.config.max_seq_len}")
        if position_ids is None:
            position_ids = torch.arange(T, device=input_ids.device).expand(B, T)
        x = self.drop(self.tok_emb(input_ids))  # (B, T, d)
        cos, sin = self.rotary(position_ids, x.dtype)
        mask = document_mask(self.config, doc_ids, causal=True)
        for block in self.blocks:
            x = run_block(block, self.config, x, cos=cos, sin=sin, attn_mask=mask)
        x = self.norm(x)
        if labels is None:
            return F.linear(x, self.head_weight)  # logits (B, T, V)
        return lm_loss_sum(self.config, x, self.head_weight, labels)
