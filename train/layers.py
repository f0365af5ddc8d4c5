"""Pieces both block styles (train.model's GPT family, train.llama) share: document masks, the LM
head's summed loss, and running a block with activation checkpointing."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import BlockMask, create_block_mask
from torch.utils.checkpoint import checkpoint

from train.chunked_loss import chunked_lm_loss_sum
from train.model_config import ModelConfig

IGNORE_INDEX = -100


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


def document_mask(config: ModelConfig, doc_ids, causal: bool):
    """The attention mask for packed documents (None: no document masking)."""
    if doc_ids is None:
        return None
    if config.attention == "flex":
        return document_block_mask(doc_ids, causal)
    return document_attention_mask(doc_ids, causal)


def lm_loss_sum(config: ModelConfig, hidden, head_weight, labels):
    # hidden: (B, N, d), head_weight: (V, d), labels: (B, N) -> summed cross-entropy over
    # labels != IGNORE_INDEX (fp32)
    if config.loss_chunk > 0:  # never the whole (B*N, V) logits at once
        return chunked_lm_loss_sum(hidden, head_weight, labels,
                                   chunk_tokens=config.loss_chunk, ignore_index=IGNORE_INDEX)
    logits = F.linear(hidden, head_weight)  # (B, N, V)
    return F.cross_entropy(
        logits.float().view(-1, logits.size(-1)), labels.reshape(-1),
        ignore_index=IGNORE_INDEX, reduction="sum",
    )


def run_block(module: torch.nn.Module, config: ModelConfig, x, **kwargs):
    """module(x, **kwargs); with activation checkpointing while training, its activations are
    recomputed in the backward instead of kept (non-reentrant: works with FSDP2 and compile)."""
    if config.activation_checkpointing and module.training and torch.is_grad_enabled():
        return checkpoint(module, x, use_reentrant=False, **kwargs)
    return module(x, **kwargs)
