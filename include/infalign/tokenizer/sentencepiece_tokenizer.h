// SentencePiece behind the Tokenizer interface. Debian's libsentencepiece carries a protobuf copy
// that clashes with LibTorch's, so it lives in its own module (libinfalign_spm.so) loaded with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND) on first use; no binary links it directly.
#pragma once

#include <memory>
#include <string>

#include "infalign/config/tokenizer_config.h"
#include "infalign/tokenizer/tokenizer.h"

namespace infalign::tokenizer {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Loads a .model file. Throws DataError naming the file when it cannot be loaded.
  static std::unique_ptr<SentencePieceTokenizer> load(const std::string& path);
  ~SentencePieceTokenizer() override;

  std::vector<std::int64_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<std::int64_t>& ids) const override;
  std::int64_t vocab_size() const override;
  std::int64_t unk_id() const override;
  std::int64_t bos_id() const override;
  std::int64_t eos_id() const override;
  // The model's pad piece, or for a model without one (Llama-2, TinyLlama, Mistral) the id set
  // by use_padding_id (-1 until then).
  std::int64_t pad_id() const override;
  std::string piece(std::int64_t id) const override;
  const std::string& path() const { return path_; }
  // Whether the model has a pad piece (SentencePiece's pad_id >= 0).
  bool has_pad_piece() const;
  // Pads with `id` although it is another piece (or unk): padding is told apart by attention
  // masks, never by its id, so the id is only a filler. Only for a model without a pad piece.
  void use_padding_id(std::int64_t id);

 private:
  struct Impl;
  SentencePieceTokenizer(std::string path, void* handle);
  std::string path_;
  void* handle_;
  std::int64_t padding_id_ = -1;
};

struct SentencePieceTrainOptions {
  std::string input_file;    // one sentence (record) per line
  std::string model_prefix;  // writes <model_prefix>.model and <model_prefix>.vocab
  std::int64_t vocab_size = 2000;
  config::TokenizerModelType model_type = config::TokenizerModelType::Unigram;
  double character_coverage = 1.0;
  std::int64_t unk_id = 0;
  std::int64_t bos_id = 1;
  std::int64_t eos_id = 2;
  std::int64_t pad_id = 3;  // -1: no pad piece
  // Fail when the corpus cannot give vocab_size pieces (false: make as many as it can).
  bool hard_vocab_limit = true;
};

// Trains a model deterministically (all sentences, no shuffling, one thread). Throws DataError
// naming the input on failure.
void train_sentencepiece(const SentencePieceTrainOptions& options);

// Where libinfalign_spm.so is looked for: $INFALIGN_SPM_MODULE, next to the executable, one
// level up from it, then the build tree. Returns the path that was loaded.
std::string sentencepiece_module_path();

}  // namespace infalign::tokenizer
