// The `tokenizer` section: the tokenizer file (SentencePiece or Hugging Face tokenizer.json), its
// special ids, and how to train a SentencePiece one.
#pragma once

#include <cstdint>
#include <string>

namespace infalign::config {

// SentencePiece training algorithm.
enum class TokenizerModelType { Unigram, Bpe };

struct TokenizerConfig {
  // SentencePiece .model (written by stage tokenizer, read by every other stage) or a Hugging
  // Face tokenizer.json (byte-level BPE: Llama 3, Qwen2, GPT-2; tokenizer_config.json beside it
  // is read too), used as it is.
  std::string path = "data/default/tokenizer.model";
  // Vocabulary size to train (stage tokenizer; SentencePiece only).
  std::int64_t vocab_size = 2000;
  // SentencePiece algorithm: unigram or bpe.
  TokenizerModelType model_type = TokenizerModelType::Unigram;
  // Share of characters the vocabulary must cover, in (0, 1].
  double character_coverage = 1.0;
  // Unknown-token id (a tokenizer.json's only when its BPE model has an unk_token).
  std::int64_t unk_id = 0;
  // Beginning-of-sequence id; every prompt starts with it. A tokenizer.json has no bos of its
  // own: choose one (its tokenizer_config.json bos_token when it names one; Qwen2's
  // <|endoftext|> otherwise).
  std::int64_t bos_id = 1;
  // End-of-sequence id; must differ from pad_id, or the policy never learns to stop.
  std::int64_t eos_id = 2;
  // Padding id, never EOS. Must be the model's pad piece when it has one; a model without one
  // (Llama-2, TinyLlama, Mistral) pads with this id, e.g. unk's: padding is masked, never read.
  std::int64_t pad_id = 3;
};

}  // namespace infalign::config
