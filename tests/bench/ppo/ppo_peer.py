#!/usr/bin/python3
"""Python peer of tests/bench/ppo: one PPO policy update step (full forward of prompt + response,
log-probs of the response tokens, clipped surrogate loss, backward, gradient-norm clip, AdamW
step) on the same Llama weights, in Python on Debian's python3-torch. --serve reads one batch
size per line on stdin ("64", or "64 bf16" for the forward under CPU bf16 autocast, as
infalign's run.dtype bfloat16) and answers with one timed step's tokens/s, so bench_ppo can
interleave its runs with the peer's on a noisy machine.
"""
import argparse
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "generate"))
from generate_peer import Llama  # noqa: E402


def forward_train(m, ids, mask, positions):
    """Full forward without a cache: hidden states [B, T, H]."""
    B, T = ids.shape
    w = m.w
    h = torch.nn.functional.embedding(ids, w["model.embed_tokens.weight"])
    freqs = positions.float().unsqueeze(-1) * m.inv_freq
    emb = torch.cat([freqs, freqs], -1).unsqueeze(1)
    cos, sin = emb.cos(), emb.sin()
    causal = torch.arange(T).unsqueeze(0) <= torch.arange(T).unsqueeze(1)
    visible = causal.unsqueeze(0) & mask.bool().unsqueeze(1)
    bias = torch.where(visible, torch.zeros(()), torch.full((), -1e30)).unsqueeze(1)
    group = m.nh // m.nkv
    for i in range(m.layers):
        p = f"model.layers.{i}."
        x = m.norm(h, w[p + "input_layernorm.weight"])
        q = (x @ w[p + "self_attn.q_proj.weight"].t()).view(B, T, m.nh, m.d).transpose(1, 2)
        k = (x @ w[p + "self_attn.k_proj.weight"].t()).view(B, T, m.nkv, m.d).transpose(1, 2)
        v = (x @ w[p + "self_attn.v_proj.weight"].t()).view(B, T, m.nkv, m.d).transpose(1, 2)
        q = q * cos + m.rotate_half(q) * sin
        k = k * cos + m.rotate_half(k) * sin
        qg = q.reshape(B, m.nkv, group * T, m.d)
        scores = (qg @ k.transpose(-1, -2)).view(B, m.nh, T, T) / math.sqrt(m.d) + bias
        probs = torch.softmax(scores, -1)
        attn = (probs.view(B, m.nkv, group * T, T) @ v).view(B, m.nh, T, m.d)
        h = h + attn.transpose(1, 2).reshape(B, T, m.nh * m.d) @ w[p + "self_attn.o_proj.weight"].t()
        y = m.norm(h, w[p + "post_attention_layernorm.weight"])
        gate = torch.nn.functional.silu(y @ w[p + "mlp.gate_proj.weight"].t())
        h = h + (gate * (y @ w[p + "mlp.up_proj.weight"].t())) @ w[p + "mlp.down_proj.weight"].t()
    return m.norm(h, w["model.norm.weight"])


def update_step(m, params, opt, batch, prompt_len, response_len, g, bf16=False):
    T = prompt_len + response_len
    ids = torch.randint(4, m.c["vocab_size"], (batch, T), generator=g)
    mask = torch.ones(batch, T, dtype=torch.long)
    positions = mask.cumsum(1) - 1
    old_logp = -3.0 - torch.rand(batch, response_len, generator=g)
    adv = torch.randn(batch, response_len, generator=g)
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        hidden = forward_train(m, ids, mask, positions)
        logits = (hidden[:, prompt_len - 1:T - 1] @ m.head.t()).float()
    logp = torch.log_softmax(logits, -1).gather(-1, ids[:, prompt_len:].unsqueeze(-1)).squeeze(-1)
    ratio = (logp - old_logp).exp()
    loss = torch.max(-adv * ratio, -adv * ratio.clamp(0.8, 1.2)).mean()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=False)
    return batch * T / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-len", type=int, default=16)
    ap.add_argument("--response-len", type=int, default=24)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    m = Llama(args.model)
    params = []
    for name, t in m.w.items():
        t.requires_grad_(True)
        params.append(t)
    m.head = m.w.get("lm_head.weight", m.w["model.embed_tokens.weight"])
    opt = torch.optim.AdamW(params, lr=1e-5, eps=1e-5, weight_decay=0.0)
    g = torch.Generator().manual_seed(1)
    warmed = set()
    for line in sys.stdin:
        words = line.split()
        batch, bf16 = int(words[0]), words[1:] == ["bf16"]
        if (batch, bf16) not in warmed:
            update_step(m, params, opt, batch, args.prompt_len, args.response_len, g, bf16)
            warmed.add((batch, bf16))
        print(update_step(m, params, opt, batch, args.prompt_len, args.response_len, g, bf16),
              flush=True)


if __name__ == "__main__":
    main()
