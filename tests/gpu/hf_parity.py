#!/usr/bin/env python3
"""Hugging Face parity, Python side: loads the policy and reward model that hf_parity exported
with transformers (LlamaForCausalLM, LlamaForSequenceClassification), runs them on the same
inputs and compares with infalign's outputs. Exit 0 when they agree (max |difference| < 1e-4),
1 when not, 3 when transformers is not installed.
    python3 tests/gpu/hf_parity.py OUT_DIR
"""
import sys

try:
    import torch
    from safetensors.torch import load_file
    from transformers import LlamaForCausalLM, LlamaForSequenceClassification
except ImportError as e:
    print(f"hf_parity.py: skipped, {e}")
    sys.exit(3)

out = sys.argv[1]
x = load_file(f"{out}/expected.safetensors")
with torch.no_grad():
    lm = LlamaForCausalLM.from_pretrained(f"{out}/policy", torch_dtype=torch.float32).eval()
    logits = lm(input_ids=x["input_ids"], attention_mask=x["attention_mask"],
                position_ids=x["position_ids"]).logits
    rm = LlamaForSequenceClassification.from_pretrained(f"{out}/reward",
                                                        torch_dtype=torch.float32).eval()
    rm.config.pad_token_id = rm.config.pad_token_id if rm.config.pad_token_id is not None else 3
    hidden = rm.model(input_ids=x["input_ids"], attention_mask=x["attention_mask"],
                      position_ids=x["position_ids"]).last_hidden_state
    scores = rm.score(hidden)[:, -1, 0]  # left padding: the last position is the last token
mask = x["attention_mask"].bool()
d_logits = (logits - x["logits"])[mask].abs().max().item()
d_scores = (scores - x["scores"]).abs().max().item()
print(f"hf_parity.py: transformers vs infalign: logits max |diff| {d_logits:.2e}, "
      f"reward scores max |diff| {d_scores:.2e}")
sys.exit(0 if d_logits < 1e-4 and d_scores < 1e-4 else 1)
