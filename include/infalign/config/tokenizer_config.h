// The `tokenizer` section: the SentencePiece model, its special ids, and how to train it.
#pragma once

#include <cstdint>
#include <string>

namespace infalign::config {

// SentencePiece training algorithm.
enum class TokenizerModelType { Unigram, Bpe };

struct TokenizerConfig {
  // SentencePiece model file (written by stage tokenizer, read by every other stage).
  std::string path = "data/default/tokenizer.model";
  // Vocabulary size to train (stage tokenizer).
  std::int64_t vocab_size = 2000;
  // SentencePiece algorithm: unigram or bpe.
  TokenizerModelType model_type = TokenizerModelType::Unigram;
  // Share of characters the vocabulary must cover, in (0, 1].
  double character_coverage = 1.0;
  // Unknown-token id.
  std::int64_t unk_id = 0;
  // Beginning-of-sequence id.
  std::int64_t bos_id = 1;
  // End-of-sequence id; must differ from pad_id, or the policy never learns to stop.
  std::int64_t eos_id = 2;
  // Padding id, never EOS. Must be the model's pad piece when it has one; a model without one
  // (Llama-2, TinyLlama, Mistral) pads with this id, e.g. unk's: padding is masked, never read.
  std::int64_t pad_id = 3;
};

}  // namespace infalign::config
