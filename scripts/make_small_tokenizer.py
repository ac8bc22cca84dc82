#!/usr/bin/python3
"""Derives a small byte-level BPE tokenizer.json from a large one, for small models.

Keeps the 256 byte tokens, then the source's merges in rank order (each whose two parts are
already kept) until the vocabulary has --vocab tokens, and the special tokens named by
--special, numbered after them. Normalizer, pre-tokenizer, decoder and the BPE options are the
source's, so text is split as the large tokenizer splits it, into fewer and shorter tokens.
tokenizer_config.json is copied with the added tokens renumbered and the special token names
that are not kept dropped; its chat_template stays.

    scripts/make_small_tokenizer.py --source data/tokenizers/qwen2_5 --out DIR --vocab 1024 \
        --special '<|endoftext|>,<|im_start|>,<|im_end|>'
"""
import argparse
import json
import os
import sys


def bytes_to_unicode():
    """GPT-2's byte -> printable character table."""
    printable = (list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256)))
    table = {}
    extra = 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="folder with tokenizer.json")
    parser.add_argument("--out", required=True)
    parser.add_argument("--vocab", type=int, default=1024, help="tokens before the special ones")
    parser.add_argument("--special", default="", help="comma-separated added tokens to keep")
    args = parser.parse_args()

    with open(os.path.join(args.source, "tokenizer.json"), encoding="utf-8") as f:
        source = json.load(f)
    model = source["model"]
    if model.get("type", "BPE") != "BPE":
        sys.exit(f"make_small_tokenizer.py: {args.source}: model.type is not BPE")
    vocab = model["vocab"]
    byte_tokens = list(bytes_to_unicode().values())
    missing = [t for t in byte_tokens if t not in vocab]
    if missing:
        sys.exit(f"make_small_tokenizer.py: {args.source}: not a byte-level vocabulary "
                 f"({len(missing)} byte tokens missing)")
    if args.vocab < 256:
        sys.exit("make_small_tokenizer.py: --vocab must be at least 256 (the byte tokens)")

    kept = set(byte_tokens)
    merges = []
    for merge in model["merges"]:
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        joined = left + right
        if left in kept and right in kept and joined not in kept and joined in vocab:
            merges.append(merge)
            kept.add(joined)
            if len(kept) >= args.vocab:
                break
    order = sorted(kept, key=lambda token: vocab[token])  # the source's relative order
    new_vocab = {token: i for i, token in enumerate(order)}

    by_content = {t["content"]: t for t in source.get("added_tokens", [])}
    specials = [s for s in args.special.split(",") if s]
    added = []
    for i, name in enumerate(specials):
        if name not in by_content:
            sys.exit(f"make_small_tokenizer.py: {args.source}: no added token {name!r}")
        token = dict(by_content[name])
        token["id"] = len(new_vocab) + i
        added.append(token)

    result = dict(source)
    result["added_tokens"] = added
    result["model"] = dict(model, vocab=new_vocab, merges=merges)
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "tokenizer.json"), result)

    config_path = os.path.join(args.source, "tokenizer_config.json")
    config = {}
    if os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    config["added_tokens_decoder"] = {str(t["id"]): {k: v for k, v in t.items() if k != "id"}
                                      for t in added}
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        name = config.get(key)
        if isinstance(name, dict):
            name = name.get("content")
        if name is not None and name not in specials:
            config.pop(key)
    if "additional_special_tokens" in config:
        config["additional_special_tokens"] = [
            t for t in config["additional_special_tokens"] if t in specials]
    config["clean_up_tokenization_spaces"] = False
    config["model_max_length"] = 1 << 20
    write_json(os.path.join(args.out, "tokenizer_config.json"), config)
    print(f"[tokenizers] {args.out}: {len(new_vocab)} tokens ({len(merges)} merges) + "
          f"{len(added)} special")


if __name__ == "__main__":
    main()
