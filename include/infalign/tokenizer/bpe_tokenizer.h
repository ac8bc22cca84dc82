// Hugging Face tokenizer.json with a byte-level BPE model (GPT-2, Llama 3, Qwen2 and their kin):
// added and special tokens split out first, then the normalizer (NFC/NFD/NFKC/NFKD, Lowercase,
// Sequence; ICU), the pre-tokenizers (Split on a regex, run by PCRE2 with Unicode classes;
// ByteLevel; Sequence), the BPE merges, and on the way back the ByteLevel decoder. Checked
// against the npm package @huggingface/tokenizers (tests/unit/tokenizer/bpe_tokenizer_test.cpp).
// Plain C++ (no LibTorch): lives in infalign_base.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "infalign/tokenizer/tokenizer.h"

namespace infalign::tokenizer {

class ByteLevelBpeTokenizer final : public Tokenizer {
 public:
  // Loads `path` (a tokenizer.json) and, when it exists, tokenizer_config.json in the same
  // folder (special token names, additional_special_tokens, clean_up_tokenization_spaces).
  // Throws DataError naming the file and the field for anything it cannot read or does not
  // implement (another model type, a pre-tokenizer or normalizer it does not know, BPE dropout).
  static std::unique_ptr<ByteLevelBpeTokenizer> load(const std::string& path);
  ~ByteLevelBpeTokenizer() override;

  // Ids of `text` without bos/eos (no post-processor). Added tokens written in the text (e.g.
  // "<|im_start|>") become their ids. Invalid UTF-8 is read as U+FFFD.
  std::vector<std::int64_t> encode(std::string_view text) const override;
  // Text of `ids`: special tokens (and tokenizer_config.json's additional_special_tokens) are
  // skipped, bytes that are not UTF-8 become U+FFFD, ids outside the vocabulary give no text;
  // clean_up_tokenization_spaces as tokenizer_config.json says (false when it says nothing).
  std::string decode(const std::vector<std::int64_t>& ids) const override;
  // One more than the largest id of the vocabulary and the added tokens.
  std::int64_t vocab_size() const override;
  // The BPE model's unk_token id, or -1 (byte-level vocabularies need none).
  std::int64_t unk_id() const override;
  // The ids set by set_special_ids; until then tokenizer_config.json's bos/eos/pad tokens (-1
  // where it names none).
  std::int64_t bos_id() const override;
  std::int64_t eos_id() const override;
  std::int64_t pad_id() const override;
  std::string piece(std::int64_t id) const override;

  // Id of a vocabulary or added token written as in tokenizer.json, or -1.
  std::int64_t token_id(std::string_view token) const;
  // The id of the token tokenizer_config.json names under `key` ("bos_token", "eos_token",
  // "pad_token", "unk_token"), or -1 when the file, the key or the token is absent.
  std::int64_t config_token_id(std::string_view key) const;
  // Whether `id` is a special added token (skipped by decode).
  bool is_special(std::int64_t id) const;
  // Chooses the ids bos/eos/pad report (tokenizer.json itself has no such notion).
  void set_special_ids(std::int64_t bos, std::int64_t eos, std::int64_t pad);
  const std::string& path() const;

 private:
  struct Impl;
  explicit ByteLevelBpeTokenizer(std::unique_ptr<Impl> impl);
  static std::unique_ptr<ByteLevelBpeTokenizer> load_unguarded(const std::string& path);
  std::unique_ptr<Impl> impl_;
};

// `bytes` with every ill-formed UTF-8 sequence replaced by U+FFFD, one per maximal subpart (the
// WHATWG decoder's rule, which Python's errors="replace" and JavaScript's TextDecoder share).
std::string sanitize_utf8(std::string_view bytes);

}  // namespace infalign::tokenizer
