// Architecture of a Llama-family decoder (Llama, Mistral, Qwen2), with Hugging Face config field
// names, and its config.json form.
#pragma once

#include <cstdint>
#include <string>

#include "infalign/config/model_config.h"
#include "infalign/config/reward_config.h"
#include "infalign/config/tokenizer_config.h"

namespace infalign::model {

// The Hugging Face model_type. All three share the Llama layout and tensor names; they differ in
// which options their config.json enables (LlamaConfig below).
enum class ModelFamily { Llama, Mistral, Qwen2 };

// HF `rope_scaling`: how the rotary frequencies are stretched for long contexts. Linear divides
// every frequency by `factor`; llama3 divides the low ones (wavelength above
// original_max_position_embeddings / low_freq_factor), keeps the high ones (wavelength below
// original / high_freq_factor) and blends linearly in between (Llama 3.1+).
struct RopeScaling {
  enum class Type { None, Linear, Llama3 };
  Type type = Type::None;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  std::int64_t original_max_position_embeddings = 8192;
};

struct LlamaConfig {
  ModelFamily family = ModelFamily::Llama;
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
  RopeScaling rope_scaling;
  // Llama's attention_bias: biases on the q, k, v and o projections. Qwen2 always has biases on
  // q, k and v (and none on o); Mistral has none.
  bool attention_bias = false;
  // Mistral's sliding_window (Qwen2's when use_sliding_window): keys more than this many
  // positions back are hidden. 0 = none. Only sequences within the window are run (the window
  // then hides nothing); longer ones are refused with an error saying so.
  std::int64_t sliding_window = 0;

  std::int64_t head_dim() const { return hidden_size / num_attention_heads; }
  bool qkv_bias() const { return family == ModelFamily::Qwen2 || attention_bias; }
  bool o_bias() const { return family == ModelFamily::Llama && attention_bias; }
  // Throws ConfigError naming the field when the shapes are inconsistent.
  void validate(const std::string& where) const;
};

// The architecture a fresh model gets from the experiment config.
LlamaConfig llama_config_from(const config::ModelConfig& model,
                              const config::TokenizerConfig& tokenizer);

// HF model_type text: "llama", "mistral", "qwen2".
const char* model_type_name(ModelFamily family);

// What a model directory holds: a causal LM (<Family>ForCausalLM) or a scalar head on the
// backbone (<Family>ForSequenceClassification with one label: reward and value models).
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
