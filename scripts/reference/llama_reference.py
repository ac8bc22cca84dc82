#!/usr/bin/python3
"""Golden files for the C++ Llama model (tests/unit/model/parity_test.cpp).

An independent forward pass of a Llama-family decoder (RMSNorm, rotary embeddings in the Hugging
Face rotate-half layout, grouped-query attention, SwiGLU) written from the HF Llama description,
run on Debian's python3-torch. It writes a tiny random causal LM and scalar-head model as HF
directories, plus inputs and expected outputs, under tests/data/golden/. Run by hand, never by
the tests:
    /usr/bin/python3 scripts/reference/llama_reference.py
Regenerating changes the committed fixtures; say why in the commit.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "tests", "data", "golden")

CONFIG = {
    "vocab_size": 32, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
    "rope_theta": 500.0, "max_position_embeddings": 16, "bos_token_id": 1, "eos_token_id": 2,
    "pad_token_id": 3,
}


def random_weights(cfg, seed, tie, head):
    g = torch.Generator().manual_seed(seed)
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    d = H // cfg["num_attention_heads"]
    nkv = cfg["num_key_value_heads"]

    def mat(rows, cols):
        return torch.randn(rows, cols, generator=g, dtype=torch.float64).float() * 0.3

    def norm():
        return 1.0 + 0.1 * torch.randn(H, generator=g, dtype=torch.float64).float()

    w = {"model.embed_tokens.weight": mat(V, H)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm()
        w[p + "self_attn.q_proj.weight"] = mat(cfg["num_attention_heads"] * d, H)
        w[p + "self_attn.k_proj.weight"] = mat(nkv * d, H)
        w[p + "self_attn.v_proj.weight"] = mat(nkv * d, H)
        w[p + "self_attn.o_proj.weight"] = mat(H, cfg["num_attention_heads"] * d)
        w[p + "post_attention_layernorm.weight"] = norm()
        w[p + "mlp.gate_proj.weight"] = mat(I, H)
        w[p + "mlp.up_proj.weight"] = mat(I, H)
        w[p + "mlp.down_proj.weight"] = mat(H, I)
    w["model.norm.weight"] = norm()
    if head == "lm" and not tie:
        w["lm_head.weight"] = mat(V, H)
    if head == "score":
        w["score.weight"] = mat(1, H)
    return w


def rmsnorm(x, weight, eps):
    x64 = x.double()
    return weight.double() * (x64 / torch.sqrt((x64 * x64).mean(-1, keepdim=True) + eps))


def forward_hidden(w, cfg, ids, mask):
    """Float64 reference forward; ids, mask [B, T] (left padding allowed)."""
    B, T = ids.shape
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    H = cfg["hidden_size"]
    d = H // nh
    pos = (mask.cumsum(1) - 1).clamp(min=0).double()
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    ang = pos[..., None] * inv  # [B, T, d/2]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, None]  # [B, 1, T, d]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, None]

    def rope(x):
        x1, x2 = x[..., : d // 2], x[..., d // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    allowed = torch.tril(torch.ones(T, T, dtype=torch.bool))[None] & mask.bool()[:, None, :]
    h = w["model.embed_tokens.weight"].double()[ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        x = rmsnorm(h, w[p + "input_layernorm.weight"], cfg["rms_norm_eps"])
        q = (x @ w[p + "self_attn.q_proj.weight"].double().T).view(B, T, nh, d).transpose(1, 2)
        k = (x @ w[p + "self_attn.k_proj.weight"].double().T).view(B, T, nkv, d).transpose(1, 2)
        v = (x @ w[p + "self_attn.v_proj.weight"].double().T).view(B, T, nkv, d).transpose(1, 2)
        q, k = rope(q), rope(k)
        out = torch.zeros(B, nh, T, d, dtype=torch.float64)
        for head in range(nh):
            kv = head // (nh // nkv)  # HF repeat_kv: consecutive query heads share a kv head
            s = q[:, head] @ k[:, kv].transpose(-1, -2) / math.sqrt(d)
            s = s.masked_fill(~allowed, float("-inf"))
            prob = torch.softmax(s, -1).nan_to_num(0.0)  # padding queries see nothing
            out[:, head] = prob @ v[:, kv]
        h = h + out.transpose(1, 2).reshape(B, T, H) @ w[p + "self_attn.o_proj.weight"].double().T
        y = rmsnorm(h, w[p + "post_attention_layernorm.weight"], cfg["rms_norm_eps"])
        gate = y @ w[p + "mlp.gate_proj.weight"].double().T
        up = y @ w[p + "mlp.up_proj.weight"].double().T
        h = h + (gate * torch.sigmoid(gate) * up) @ w[p + "mlp.down_proj.weight"].double().T
    return rmsnorm(h, w["model.norm.weight"], cfg["rms_norm_eps"])


def hf_config(cfg, tie, head):
    c = dict(cfg)
    c.update({"model_type": "llama", "hidden_act": "silu", "tie_word_embeddings": tie,
              "architectures": ["LlamaForCausalLM" if head == "lm" else
                                "LlamaForSequenceClassification"],
              "torch_dtype": "float32", "rope_scaling": None, "attention_bias": False})
    if head == "score":
        c["num_labels"] = 1
    return c


def write_model(name, cfg, w, tie, head):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(hf_config(cfg, tie, head), f, indent=2)
        f.write("\n")
    safetensors_io.save(os.path.join(d, "model.safetensors"), w, {"format": "pt"})


def main():
    ids = torch.tensor([[1, 5, 9, 17, 30, 2], [3, 3, 1, 7, 12, 25]], dtype=torch.int64)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]], dtype=torch.int64)

    lm = random_weights(CONFIG, 1, tie=False, head="lm")
    write_model("llama_tiny_lm", CONFIG, lm, tie=False, head="lm")
    logits = forward_hidden(lm, CONFIG, ids, mask) @ lm["lm_head.weight"].double().T

    tied = random_weights(CONFIG, 2, tie=True, head="lm")
    write_model("llama_tiny_tied", CONFIG, tied, tie=True, head="lm")
    tied_logits = forward_hidden(tied, CONFIG, ids, mask) @ tied["model.embed_tokens.weight"].double().T

    rm = random_weights(CONFIG, 3, tie=True, head="score")
    write_model("llama_tiny_score", CONFIG, rm, tie=True, head="score")
    values = (forward_hidden(rm, CONFIG, ids, mask) @ rm["score.weight"].double().T)[..., 0]
    last = mask.shape[1] - 1 - mask.flip(1).argmax(1)
    scores = values[torch.arange(ids.shape[0]), last]

    safetensors_io.save(os.path.join(OUT, "llama_tiny_expected.safetensors"), {
        "input_ids": ids, "attention_mask": mask,
        "lm_logits": logits.float(), "tied_logits": tied_logits.float(),
        "values": values.float(), "scores": scores.float(),
    }, {"generator": "scripts/reference/llama_reference.py", "precision": "float64 reference"})
    print("wrote", OUT)


if __name__ == "__main__":
    main()
