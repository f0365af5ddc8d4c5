"""`corpusmill export hf RUN_OR_CKPT OUT`: a trained model as a Hugging Face checkpoint directory
(model.safetensors + config.json + the run's tokenizer.json) that `transformers` loads with no
corpusmill code:

- arch "gpt"   -> GPT2LMHeadModel. GPT-2's blocks have biases and biased LayerNorms; ours have
                  neither, so those are written as zeros (exactly the same function). Linear weights
                  are transposed into GPT-2's Conv1D layout; the MLP uses gelu_pytorch_tanh, the
                  same tanh-approximated GELU the trainer uses.
- arch "llama" -> LlamaForCausalLM, weights under its names unchanged (train.llama computes RoPE,
                  RMSNorm and GQA in Hugging Face's layout).
- arch "bert" and "t5" are refused: the trainer's BERT is pre-LayerNorm without biases (BERT is
  post-LayerNorm, so BertForMaskedLM would compute a different function from the same shapes), and
  its T5 uses LayerNorm and learned absolute positions where T5ForConditionalGeneration has RMSNorm,
  relative position buckets and unscaled attention. No transformers class computes either model.

The padded model vocabulary (a multiple of 128) is kept: the extra rows are never produced by the
tokenizer. This module needs only torch, safetensors and the tokenizer file.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from tokenization.manifest import load_manifest
from train.checkpoint import is_sharded_checkpoint, latest_checkpoint, load_checkpoint, load_sharded_state
from train.model import build_model
from train.model_config import ModelConfig

logger = logging.getLogger(__name__)
EXPORTABLE = {"gpt": "GPT2LMHeadModel", "llama": "LlamaForCausalLM"}


def find_checkpoint(source: str | Path) -> Path:
    """A checkpoint from a step-*.pt file, a sharded step-* directory, a training output directory
    (its latest checkpoint) or a run directory with exactly one training output under train/."""
    path = Path(source)
    if path.is_file() or is_sharded_checkpoint(path):
        return path
    if (latest := latest_checkpoint(path)) is not None:
        return latest
    trained = sorted(p for p in (path / "train").glob("*") if latest_checkpoint(p) is not None)
    if len(trained) == 1:
        return latest_checkpoint(trained[0])
    if trained:
        raise ValueError(f"{path} holds several trained models ({', '.join(p.name for p in trained)}); "
                         f"pass one of them, e.g. {trained[0]}")
    raise FileNotFoundError(f"{path}: no checkpoint found; pass a run directory after `corpusmill train`, "
                            "its train/<objective>-<model> directory or a checkpoint")


def load_weights(checkpoint: Path, state: dict, model_cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """The model's full state dict (fp32, CPU) from either checkpoint layout."""
    if not is_sharded_checkpoint(checkpoint):
        return state["model"]
    model = build_model(model_cfg)
    weights = {"model": model.state_dict()}
    load_sharded_state(weights, checkpoint)  # one process: gathers every rank's shards
    return weights["model"]


def gpt2_tensors(cfg: ModelConfig, weights: dict) -> dict[str, torch.Tensor]:
    out = {"transformer.wte.weight": weights["tok_emb.weight"],
           "transformer.wpe.weight": weights["pos_emb.weight"]}
    d = cfg.d_model
    zeros = lambda n: torch.zeros(n, dtype=weights["tok_emb.weight"].dtype)  # noqa: E731
    for i in range(cfg.n_layer):
        ours, theirs = f"blocks.{i}.", f"transformer.h.{i}."
        out.update({
            theirs + "ln_1.weight": weights[ours + "ln_self.weight"], theirs + "ln_1.bias": zeros(d),
            # Conv1D stores (in, out): the transpose of nn.Linear's (out, in)
            theirs + "attn.c_attn.weight": weights[ours + "self_attn.qkv_proj.weight"].t(),
            theirs + "attn.c_attn.bias": zeros(3 * d),
            theirs + "attn.c_proj.weight": weights[ours + "self_attn.out_proj.weight"].t(),
            theirs + "attn.c_proj.bias": zeros(d),
            theirs + "ln_2.weight": weights[ours + "ln_mlp.weight"], theirs + "ln_2.bias": zeros(d),
            theirs + "mlp.c_fc.weight": weights[ours + "mlp.up_proj.weight"].t(),
            theirs + "mlp.c_fc.bias": zeros(cfg.d_ff),
            theirs + "mlp.c_proj.weight": weights[ours + "mlp.down_proj.weight"].t(),
            theirs + "mlp.c_proj.bias": zeros(d),
        })
    out["transformer.ln_f.weight"], out["transformer.ln_f.bias"] = weights["ln_f.weight"], zeros(d)
    return out  # lm_head is the tied wte (tie_word_embeddings)


def gpt2_config(cfg: ModelConfig, eos_id: int) -> dict:
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": cfg.vocab_size,
        "n_positions": cfg.max_seq_len, "n_embd": cfg.d_model, "n_layer": cfg.n_layer, "n_head": cfg.n_head,
        "n_inner": cfg.d_ff, "activation_function": "gelu_pytorch_tanh", "layer_norm_epsilon": 1e-5,
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "scale_attn_weights": True,
        "tie_word_embeddings": True, "bos_token_id": eos_id, "eos_token_id": eos_id, "torch_dtype": "float32",
    }


def llama_tensors(cfg: ModelConfig, weights: dict) -> dict[str, torch.Tensor]:
    out = {"model.embed_tokens.weight": weights["tok_emb.weight"], "model.norm.weight": weights["norm.weight"]}
    for i in range(cfg.n_layer):
        ours, theirs = f"blocks.{i}.", f"model.layers.{i}."
        out[theirs + "input_layernorm.weight"] = weights[ours + "attn_norm.weight"]
        out[theirs + "post_attention_layernorm.weight"] = weights[ours + "mlp_norm.weight"]
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            out[theirs + f"self_attn.{name}.weight"] = weights[ours + f"attn.{name}.weight"]
        for name in ("gate_proj", "up_proj", "down_proj"):
            out[theirs + f"mlp.{name}.weight"] = weights[ours + f"mlp.{name}.weight"]
    if not cfg.tie_embeddings:
        out["lm_head.weight"] = weights["lm_head.weight"]
    return out


def llama_config(cfg: ModelConfig, eos_id: int) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model, "intermediate_size": cfg.d_ff, "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head, "num_key_value_heads": cfg.num_kv_heads, "head_dim": cfg.head_dim,
        "max_position_embeddings": cfg.max_seq_len, "rms_norm_eps": cfg.norm_eps, "hidden_act": "silu",
        # rope_theta for transformers 4.x, rope_parameters for 5.x
        "rope_theta": cfg.rope_theta, "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "attention_bias": False, "mlp_bias": False, "attention_dropout": 0.0,
        "tie_word_embeddings": cfg.tie_embeddings, "bos_token_id": eos_id, "eos_token_id": eos_id,
        "torch_dtype": "float32",
    }


def export_hf(source: str | Path, out: str | Path, *, tokenizer: str | Path | None = None) -> Path:
    """Write OUT/{model.safetensors, config.json, tokenizer.json, tokenizer_config.json}."""
    checkpoint = find_checkpoint(source)
    state = load_checkpoint(checkpoint)
    cfg = ModelConfig(**state["model_config"])
    if cfg.arch not in EXPORTABLE:
        raise ValueError(f"{checkpoint}: arch {cfg.arch!r} has no matching transformers class (see "
                         "train/export_hf.py); export a clm model (GPT-2- or Llama-style)")
    weights = {k: v.float() for k, v in load_weights(checkpoint, state, cfg).items()}
    eos_id = int(state["vocab"]["eos_id"])
    tensors, config = ((gpt2_tensors(cfg, weights), gpt2_config(cfg, eos_id)) if cfg.arch == "gpt"
                       else (llama_tensors(cfg, weights), llama_config(cfg, eos_id)))
    tokenizer_path = Path(tokenizer) if tokenizer else _run_tokenizer(state["config"]["run"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / "model.safetensors"),
              metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    shutil.copyfile(tokenizer_path, out / "tokenizer.json")
    eos_token = _token_for_id(tokenizer_path, eos_id)
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": cfg.max_seq_len,
         **({"eos_token": eos_token, "bos_token": eos_token} if eos_token else {})}, indent=2) + "\n")
    logger.info("exported %s (%s) to %s as %s", checkpoint, cfg.arch, out, EXPORTABLE[cfg.arch])
    return out


def _run_tokenizer(run: str) -> Path:
    try:
        manifest = load_manifest(run)
        path = manifest.directory / manifest.tokenizer_path  # relative to the manifest (or absolute)
    except (FileNotFoundError, ValueError) as error:
        raise FileNotFoundError(f"the training run's manifest ({run}) is not readable here ({error}); "
                                "pass --tokenizer PATH/tokenizer.json") from error
    if not path.is_file():
        raise FileNotFoundError(f"the run's tokenizer {path} is missing; pass --tokenizer PATH/tokenizer.json")
    return path


def _token_for_id(tokenizer_path: Path, token_id: int) -> str | None:
    vocab = json.loads(tokenizer_path.read_text(encoding="utf-8"))
    for added in vocab.get("added_tokens", []):
        if added.get("id") == token_id:
            return added["content"]
    return None
