#!/usr/bin/env bash
# scripts/byo_example.sh end to end, in a scratch directory: each family (llama and qwen2 with a
# tokenizer.json, mistral with a pad-less SentencePiece model) goes lm -> calibrate + PPO -> eval,
# and its exported policy is the family's Hugging Face layout with the tokenizer beside it.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d "${TMPDIR:-/tmp}/byo-test.XXXXXX")
trap 'rm -rf "$out"' EXIT
scripts/byo_example.sh --out "$out" >"$out/log.txt" 2>&1 || { tail -n 40 "$out/log.txt"; exit 1; }
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
expect = {"llama": ("LlamaForCausalLM", "tokenizer.json"), "qwen2": ("Qwen2ForCausalLM", "tokenizer.json"),
          "mistral": ("MistralForCausalLM", "tokenizer.model")}
for family, (arch, tok) in expect.items():
    final = os.path.join(out, family, "ppo", "final")
    config = json.load(open(os.path.join(final, "config.json")))
    assert config["model_type"] == family and config["architectures"] == [arch], (family, config)
    assert os.path.exists(os.path.join(final, tok)), (family, os.listdir(final))
    if tok == "tokenizer.json":
        assert os.path.exists(os.path.join(final, "tokenizer_config.json")), family
    metrics = [json.loads(l) for l in open(os.path.join(out, family, "ppo", "metrics.jsonl"))]
    assert len(metrics) == 12, (family, len(metrics))
    results = json.load(open(os.path.join(out, family, "eval", "results.json")))
    assert results["prompts"] == 12, results["prompts"]
    judge = results["policies"][0]["judges"][0]
    assert judge["judge"] == "command", judge["judge"]
    prompts = [json.loads(l)["prompt"] for l in open(os.path.join(out, family, "prompts_eval.jsonl"))]
    assert len(prompts) == 12 and all(p for p in prompts)
    print(f"{family}: {arch}, {tok}, {len(metrics)} PPO iterations, evaluated on {len(prompts)} chat prompts")
# The chat templates were applied: Llama 3's headers, ChatML, [INST].
first = lambda f: json.loads(open(os.path.join(out, f, "prompts_eval.jsonl")).readline())["prompt"]
assert "<|start_header_id|>user<|end_header_id|>" in first("llama"), first("llama")
assert "<|im_start|>user" in first("qwen2"), first("qwen2")
assert "[INST]" in first("mistral") and not first("mistral").startswith("<s>"), first("mistral")
PY
