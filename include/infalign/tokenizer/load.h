// Loading a tokenizer by its file: a SentencePiece .model or a Hugging Face tokenizer.json
// (byte-level BPE), with the special ids every stage relies on.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "infalign/config/load.h"
#include "infalign/tokenizer/tokenizer.h"

namespace infalign::tokenizer {

// Loads tokenizer.path and checks the config's special ids against it (ConfigError naming the
// key and where it was set; DataError when the file cannot be read).
// - SentencePiece: tokenizer.{unk,bos,eos,pad}_id must be the model's; a model without a pad
//   piece pads with tokenizer.pad_id (any piece but EOS: padding is masked, never read).
// - tokenizer.json: it has no bos/eos/pad of its own, so the config chooses them, within the
//   vocabulary; where tokenizer_config.json beside it names a bos_token or eos_token, the ids
//   must be those. tokenizer.unk_id is used only when the BPE model has an unk_token (then it
//   must be its id); tokenizer.vocab_size is only for training SentencePiece.
std::unique_ptr<Tokenizer> load_configured_tokenizer(const config::LoadedConfig& loaded);

// Loads a tokenizer with the special ids it names itself, for a model that brings its own
// (reward.tokenizer_path). tokenizer.json: tokenizer_config.json's eos_token is required; bos is
// its bos_token, else its pad_token, else the eos; pad is its pad_token, else the eos (masked).
// SentencePiece: the model's ids (pad_id() is -1 without a pad piece). `key` names the config
// key in errors.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path, const std::string& key);

// A line for logs: the format and, for SentencePiece, the module that reads it.
std::string describe_tokenizer(const std::string& path);

}  // namespace infalign::tokenizer
