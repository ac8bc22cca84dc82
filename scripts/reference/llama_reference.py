#!/usr/bin/python3
"""Golden files for the C++ decoder (tests/unit/model/llama_test.cpp).

An independent forward pass of a Llama-family decoder (RMSNorm, rotary embeddings in the Hugging
Face rotate-half layout, grouped-query attention, SwiGLU) written from the HF model descriptions,
run on Debian's python3-torch in float64. The families differ in what the config enables: Llama
(rope_scaling "linear" or "llama3", attention_bias on q/k/v/o), Mistral (the Llama layout with
a sliding_window, here longer than any input) and Qwen2 (biases on q/k/v only, tied or untied
embeddings). It writes tiny random causal LMs and scalar-head models as HF directories, plus
inputs and expected outputs, under tests/data/golden/. Run by hand, never by the tests:
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


# Per family: the config additions of its tiny models (besides CONFIG).
FAMILIES = {
    "llama3": {"model_type": "llama", "attention_bias": True,
               "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 8.0,
                                "original_max_position_embeddings": 64}},
    "linear": {"model_type": "llama", "rope_scaling": {"type": "linear", "factor": 4.0}},
    "mistral": {"model_type": "mistral", "sliding_window": 4096, "rope_theta": 1000.0},
    "qwen2": {"model_type": "qwen2", "use_sliding_window": False, "sliding_window": 4096,
              "max_window_layers": 2, "rope_theta": 2000.0},
}
ARCH = {"llama": "Llama", "mistral": "Mistral", "qwen2": "Qwen2"}


def qkv_bias(cfg):
    return cfg.get("model_type") == "qwen2" or cfg.get("attention_bias", False)


def o_bias(cfg):
    return cfg.get("model_type") != "qwen2" and cfg.get("attention_bias", False)


def inv_freq(cfg, d):
    """Rotary frequencies with HF's rope_scaling rules (linear: all divided by the factor;
    llama3: long wavelengths divided, short ones kept, a smooth blend between)."""
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    rs = cfg.get("rope_scaling")
    if not rs:
        return inv
    kind = rs.get("rope_type", rs.get("type"))
    factor = rs["factor"]
    if kind == "linear":
        return inv / factor
    assert kind == "llama3", kind
    old = rs["original_max_position_embeddings"]
    low_wavelen = old / rs["low_freq_factor"]
    high_wavelen = old / rs["high_freq_factor"]
    out = []
    for f in inv.tolist():
        wavelen = 2 * math.pi / f
        if wavelen < high_wavelen:
            out.append(f)
        elif wavelen > low_wavelen:
            out.append(f / factor)
        else:
            smooth = (old / wavelen - rs["low_freq_factor"]) / (
                rs["high_freq_factor"] - rs["low_freq_factor"])
            out.append((1 - smooth) * f / factor + smooth * f)
    return torch.tensor(out, dtype=torch.float64)


def random_weights(cfg, seed, tie, head):
    g = torch.Generator().manual_seed(seed)
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    d = H // cfg["num_attention_heads"]
    nkv = cfg["num_key_value_heads"]

    def mat(rows, cols):
        return torch.randn(rows, cols, generator=g, dtype=torch.float64).float() * 0.3

    def vec(n):
        return torch.randn(n, generator=g, dtype=torch.float64).float() * 0.5

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
        if qkv_bias(cfg):
            w[p + "self_attn.q_proj.bias"] = vec(cfg["num_attention_heads"] * d)
            w[p + "self_attn.k_proj.bias"] = vec(nkv * d)
            w[p + "self_attn.v_proj.bias"] = vec(nkv * d)
        if o_bias(cfg):
            w[p + "self_attn.o_proj.bias"] = vec(H)
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
    inv = inv_freq(cfg, d)
    ang = pos[..., None] * inv  # [B, T, d/2]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, None]  # [B, 1, T, d]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, None]

    def rope(x):
        x1, x2 = x[..., : d // 2], x[..., d // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    allowed = torch.tril(torch.ones(T, T, dtype=torch.bool))[None] & mask.bool()[:, None, :]
    def linear(x, name):
        y = x @ w[name + ".weight"].double().T
        return y + w[name + ".bias"].double() if name + ".bias" in w else y

    h = w["model.embed_tokens.weight"].double()[ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        x = rmsnorm(h, w[p + "input_layernorm.weight"], cfg["rms_norm_eps"])
        q = linear(x, p + "self_attn.q_proj").view(B, T, nh, d).transpose(1, 2)
        k = linear(x, p + "self_attn.k_proj").view(B, T, nkv, d).transpose(1, 2)
        v = linear(x, p + "self_attn.v_proj").view(B, T, nkv, d).transpose(1, 2)
        q, k = rope(q), rope(k)
        out = torch.zeros(B, nh, T, d, dtype=torch.float64)
        for head in range(nh):
            kv = head // (nh // nkv)  # HF repeat_kv: consecutive query heads share a kv head
            s = q[:, head] @ k[:, kv].transpose(-1, -2) / math.sqrt(d)
            s = s.masked_fill(~allowed, float("-inf"))
            prob = torch.softmax(s, -1).nan_to_num(0.0)  # padding queries see nothing
            out[:, head] = prob @ v[:, kv]
        h = h + linear(out.transpose(1, 2).reshape(B, T, H), p + "self_attn.o_proj")
        y = rmsnorm(h, w[p + "post_attention_layernorm.weight"], cfg["rms_norm_eps"])
        gate = y @ w[p + "mlp.gate_proj.weight"].double().T
        up = y @ w[p + "mlp.up_proj.weight"].double().T
        h = h + (gate * torch.sigmoid(gate) * up) @ w[p + "mlp.down_proj.weight"].double().T
    return rmsnorm(h, w["model.norm.weight"], cfg["rms_norm_eps"])


def hf_config(cfg, tie, head):
    c = dict(cfg)
    model_type = c.pop("model_type", "llama")
    c.update({"model_type": model_type, "hidden_act": "silu", "tie_word_embeddings": tie,
              "architectures": [ARCH[model_type] + ("ForCausalLM" if head == "lm" else
                                                    "ForSequenceClassification")],
              "torch_dtype": "float32"})
    if model_type == "llama":
        c.setdefault("rope_scaling", None)
        c.setdefault("attention_bias", False)
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

    # The families: per family a causal LM (untied, and for Qwen2 also tied) and a score head.
    expected = {"input_ids": ids, "attention_mask": mask}
    for seed, (family, extra) in enumerate(FAMILIES.items(), start=10):
        cfg = dict(CONFIG, **extra)
        variants = [("lm", False), ("score", True)] + ([("lm", True)] if family == "qwen2" else [])
        for k, (head, tie) in enumerate(variants):
            name = f"{family}_tiny_{'tied' if head == 'lm' and tie else head}"
            w = random_weights(cfg, seed * 10 + k, tie=tie, head=head)
            write_model(name, cfg, w, tie=tie, head=head)
            hidden = forward_hidden(w, cfg, ids, mask)
            if head == "lm":
                out = w["model.embed_tokens.weight" if tie else "lm_head.weight"]
                expected[name] = (hidden @ out.double().T).float()
            else:
                expected[name] = (hidden @ w["score.weight"].double().T)[..., 0].float()
    safetensors_io.save(os.path.join(OUT, "families_expected.safetensors"), expected, {
        "generator": "scripts/reference/llama_reference.py", "precision": "float64 reference"})

    safetensors_io.save(os.path.join(OUT, "llama_tiny_expected.safetensors"), {
        "input_ids": ids, "attention_mask": mask,
        "lm_logits": logits.float(), "tied_logits": tied_logits.float(),
        "values": values.float(), "scores": scores.float(),
    }, {"generator": "scripts/reference/llama_reference.py", "precision": "float64 reference"})
    print("wrote", OUT)


if __name__ == "__main__":
    main()
