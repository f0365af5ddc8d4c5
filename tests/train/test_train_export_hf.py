"""`export hf`: transformers loads each exported checkpoint as GPT2LMHeadModel / LlamaForCausalLM and
computes corpusmill's logits on the same tokens (stated tolerance: max abs difference 1e-5 in
fp32; measured 0.0 on this machine); BERT- and T5-style models are refused with the reason."""
from __future__ import annotations

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")
from tokenizers import Tokenizer, models, pre_tokenizers, trainers  # noqa: E402

from train.checkpoint import save_checkpoint  # noqa: E402
from train.export_hf import export_hf  # noqa: E402
from train.model import build_model, model_config  # noqa: E402

VOCAB = 384  # a multiple of 128, as the trainer pads; the tokenizer uses fewer ids
LOGITS_ATOL = 1e-5


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory):
    """A small byte-level BPE trained here (no shared data needed), EOS = <|endoftext|> = id 0."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    text = ["def export(model): return model.state_dict()", "the quick brown fox jumps over the lazy dog"] * 50
    tokenizer.train_from_iterator(text, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"]))
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tokenizer.save(str(path))
    return path


def trained_looking(preset: str, arch: str, **overrides):
    """A model with every weight random (norms too), saved as the trainer saves checkpoints."""
    torch.manual_seed(1)
    config = model_config(preset, arch, VOCAB, **overrides)
    model = build_model(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.add_(torch.randn_like(param) * (0.1 if "norm" in name or "ln" in name else 0.02))
    return config, model


def save(tmp_path, config, model):
    out = tmp_path / "train-out"
    save_checkpoint(out, 7, {"model": model.state_dict(), "model_config": config.to_json(),
                             "vocab": {"eos_id": 0}, "config": {"run": str(tmp_path / "no-run")}}, keep=1)
    return out


@pytest.mark.parametrize("preset,arch,overrides,hf_class", [
    ("tiny", "gpt", {}, "GPT2LMHeadModel"),
    ("llama-tiny", "llama", {}, "LlamaForCausalLM"),  # untied head, 4 query / 2 key-value heads
    ("llama-tiny", "llama", {"tie_embeddings": True, "n_kv_head": 4, "rope_theta": 500000.0},
     "LlamaForCausalLM"),
])
def test_transformers_loads_the_export_with_the_same_logits(tmp_path, tokenizer_file, preset, arch, overrides,
                                                             hf_class):
    config, model = trained_looking(preset, arch, **overrides)
    out = export_hf(save(tmp_path, config, model), tmp_path / "hf", tokenizer=tokenizer_file)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json",
                                                     "tokenizer_config.json"]
    hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    assert type(hf).__name__ == hf_class and hf.config.vocab_size == VOCAB
    assert hf.config.tie_word_embeddings == config.tie_embeddings
    ids = torch.randint(0, 300, (2, 48))
    with torch.no_grad():
        ours, theirs = model(ids), hf(ids).logits
    assert ours.shape == theirs.shape == (2, 48, VOCAB)
    torch.testing.assert_close(theirs, ours, rtol=0, atol=LOGITS_ATOL)

    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    text = "the lazy fox returns model.state_dict()"
    assert tokenizer(text)["input_ids"] == Tokenizer.from_file(str(tokenizer_file)).encode(text).ids
    assert tokenizer.eos_token == "<|endoftext|>" and json.loads((out / "config.json").read_text())["eos_token_id"] == 0


@pytest.mark.parametrize("preset,arch", [("tiny", "bert"), ("tiny", "t5")])
def test_models_without_a_matching_transformers_class_are_refused(tmp_path, tokenizer_file, preset, arch):
    config, model = trained_looking(preset, arch)
    with pytest.raises(ValueError, match=f"arch '{arch}' has no matching transformers class"):
        export_hf(save(tmp_path, config, model), tmp_path / "hf", tokenizer=tokenizer_file)
    assert not (tmp_path / "hf").exists()


def test_a_missing_run_tokenizer_names_the_option(tmp_path):
    config, model = trained_looking("tiny", "gpt")
    with pytest.raises(FileNotFoundError, match="pass --tokenizer PATH/tokenizer.json"):
        export_hf(save(tmp_path, config, model), tmp_path / "hf")
