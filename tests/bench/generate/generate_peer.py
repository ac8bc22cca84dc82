#!/usr/bin/python3
"""Python peer of tests/bench/generate: the same Llama model and KV-cache sampling loop, written
in Python on Debian's python3-torch (the same ATen kernels as the C++ engine), on the same
weights. With --batch it prints one JSON line {"batch": B, "tokens_per_s": [one per repeat]}. With
--serve it reads one batch size per line on stdin and answers each with one timed run's
tokens/s, so bench_generate can interleave its own runs with the peer's on a noisy machine.
By hand:
  /usr/bin/python3 tests/bench/generate/generate_peer.py --model DIR --batch 16 --new-tokens 64
"""
import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "scripts", "reference"))
import safetensors_io  # noqa: E402


class Llama:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            c = json.load(f)
        self.c = c
        self.w = safetensors_io.load(os.path.join(model_dir, "model.safetensors"))
        self.nh, self.nkv = c["num_attention_heads"], c["num_key_value_heads"]
        self.d = c["hidden_size"] // self.nh
        self.eps = c["rms_norm_eps"]
        self.layers = c["num_hidden_layers"]
        self.inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, self.d, 2).float() / self.d))
        self.head = self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])

    def norm(self, x, weight):
        x32 = x.float()
        return weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)

    @staticmethod
    def rotate_half(x):
        half = x.shape[-1] // 2
        return torch.cat([-x[..., half:], x[..., :half]], -1)

    def forward(self, ids, mask, positions, cache, past):
        """ids/positions [B, T]; mask [B, past + T]; cache: per layer (k, v) [B, nkv, cap, d]."""
        B, T = ids.shape
        S = past + T
        h = torch.nn.functional.embedding(ids, self.w["model.embed_tokens.weight"])
        freqs = positions.float().unsqueeze(-1) * self.inv_freq
        emb = torch.cat([freqs, freqs], -1).unsqueeze(1)
        cos, sin = emb.cos().to(h.dtype), emb.sin().to(h.dtype)
        causal = torch.arange(S).unsqueeze(0) <= torch.arange(past, S).unsqueeze(1)
        visible = causal.unsqueeze(0) & mask.bool().unsqueeze(1)
        bias = torch.where(visible, torch.zeros(()), torch.full((), -1e30)).unsqueeze(1)
        group = self.nh // self.nkv
        for i in range(self.layers):
            p = f"model.layers.{i}."
            x = self.norm(h, self.w[p + "input_layernorm.weight"])
            q = (x @ self.w[p + "self_attn.q_proj.weight"].t()).view(B, T, self.nh, self.d).transpose(1, 2)
            k = (x @ self.w[p + "self_attn.k_proj.weight"].t()).view(B, T, self.nkv, self.d).transpose(1, 2)
            v = (x @ self.w[p + "self_attn.v_proj.weight"].t()).view(B, T, self.nkv, self.d).transpose(1, 2)
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            kc, vc = cache[i]
            kc[:, :, past:S] = k
            vc[:, :, past:S] = v
            k, v = kc[:, :, :S], vc[:, :, :S]
            qg = q.reshape(B, self.nkv, group * T, self.d)
            scores = (qg @ k.transpose(-1, -2)).view(B, self.nh, T, S).float() / math.sqrt(self.d) + bias
            probs = torch.softmax(scores, -1).to(v.dtype)
            attn = (probs.view(B, self.nkv, group * T, S) @ v).view(B, self.nh, T, self.d)
            h = h + attn.transpose(1, 2).reshape(B, T, self.nh * self.d) @ self.w[p + "self_attn.o_proj.weight"].t()
            y = self.norm(h, self.w[p + "post_attention_layernorm.weight"])
            gate = torch.nn.functional.silu(y @ self.w[p + "mlp.gate_proj.weight"].t())
            h = h + (gate * (y @ self.w[p + "mlp.up_proj.weight"].t())) @ self.w[p + "mlp.down_proj.weight"].t()
        return self.norm(h, self.w["model.norm.weight"])

    def logits(self, hidden):
        return (hidden @ self.head.t()).float()


def generate(model, prompts, new_tokens, pad_id, generator):
    """Left-padded batched sampling at temperature 1 with a KV cache (no early stop)."""
    B, P = prompts.shape
    mask = torch.ones(B, P, dtype=torch.long)
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    cap = P + new_tokens
    cache = [(torch.zeros(B, model.nkv, cap, model.d), torch.zeros(B, model.nkv, cap, model.d))
             for _ in range(model.layers)]
    hidden = model.forward(prompts, mask, positions, cache, 0)
    logits = model.logits(hidden[:, -1:]).squeeze(1)
    last = positions[:, -1]
    past = P
    out = []
    for step in range(new_tokens):
        probs = torch.softmax(logits, -1)
        cdf = probs.double().cumsum(-1)
        u = torch.rand(B, generator=generator, dtype=torch.float64).unsqueeze(1) * cdf[:, -1:]
        ids = (cdf <= u).sum(-1).clamp(max=probs.shape[1] - 1)
        logp = torch.log_softmax(logits, -1).gather(1, ids.unsqueeze(1)).squeeze(1)
        out.append((ids, logp))
        if step + 1 == new_tokens:
            break
        mask = torch.cat([mask, torch.ones(B, 1, dtype=torch.long)], 1)
        last = last + 1
        hidden = model.forward(ids.unsqueeze(1), mask, last.unsqueeze(1), cache, past)
        past += 1
        logits = model.logits(hidden).squeeze(1)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--prompt-len", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = Llama(args.model)
    g = torch.Generator().manual_seed(1)
    if args.serve:
        warmed = set()
        with torch.inference_mode():
            for line in sys.stdin:
                batch = int(line)
                prompts = torch.randint(4, model.c["vocab_size"], (batch, args.prompt_len), generator=g)
                if batch not in warmed:
                    generate(model, prompts, args.new_tokens, model.c["pad_token_id"], g)
                    warmed.add(batch)
                start = time.perf_counter()
                generate(model, prompts, args.new_tokens, model.c["pad_token_id"], g)
                print(batch * args.new_tokens / (time.perf_counter() - start), flush=True)
        return
    prompts = torch.randint(4, model.c["vocab_size"], (args.batch, args.prompt_len), generator=g)
    rates = []
    with torch.inference_mode():
        generate(model, prompts, args.new_tokens, model.c["pad_token_id"], g)  # warm-up
        for _ in range(args.repeats):
            start = time.perf_counter()
            generate(model, prompts, args.new_tokens, model.c["pad_token_id"], g)
            rates.append(args.batch * args.new_tokens / (time.perf_counter() - start))
    print(json.dumps({"batch": args.batch, "tokens_per_s": rates}))


if __name__ == "__main__":
    main()
