// Architecture of a Llama-family decoder, with Hugging Face `LlamaConfig` field names, and its
// config.json form.
#pragma once

#include <cstdint>
#include <string>

#include "infalign/config/model_config.h"
#include "infalign/config/reward_config.h"
#include "infalign/config/tokenizer_config.h"

namespace infalign::model {

struct LlamaConfig {
  std::int64_t vocab_size = 32;
  std::int64_t hidden_size = 16;
  std::int64_t intermediate_size = 32;
  std::int64_t num_hidden_layers = 1;
  std::int64_t num_attention_heads = 2;
  std::int64_t num_key_value_heads = 1;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  std::int64_t max_position_embeddings = 64;
  bool tie_word_embeddings = true;
  std::int64_t bos_token_id = 1;
  std::int64_t eos_token_id = 2;
  std::int64_t pad_token_id = 3;

  std::int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // Throws ConfigError naming the field when the shapes are inconsistent.
  void validate(const std::string& where) const;
};

// The architecture a fresh model gets from the experiment config.
LlamaConfig llama_config_from(const config::ModelConfig& model,
                              const config::TokenizerConfig& tokenizer);

// What a model directory holds: a causal LM (LlamaForCausalLM) or a scalar head on the backbone
// (LlamaForSequenceClassification with one label: reward and value models).
enum class ModelKind { CausalLm, Scalar };

// config.json text for `kind` (loadable by transformers' AutoConfig). A scalar model's also
// records what it reads (`infalign_score_input`: "prompt_response" or "response").
std::string to_hf_config_json(
    const LlamaConfig& config, ModelKind kind, const std::string& dtype,
    config::RewardInput score_input = config::RewardInput::PromptResponse);
// The `infalign_score_input` of config.json text (prompt_response when absent, as for models
// made elsewhere); another value is a CheckpointError naming `path`.
config::RewardInput parse_score_input(const std::string& text, const std::string& path);
// Parses config.json text; `path` names it in errors (CheckpointError: unsupported variants such
// as rope_scaling, biases or another activation are refused rather than silently misread).
LlamaConfig parse_hf_config_json(const std::string& text, const std::string& path,
                                 ModelKind* kind = nullptr);

}  // namespace infalign::model
