// The `model` section: the policy's Llama architecture (Hugging Face `LlamaConfig` names) and
// where its weights come from.
#pragma once

#include <cstdint>
#include <string>

namespace infalign::config {

// Hugging Face model_type of a fresh model: the Llama layout, with Qwen2's q/k/v biases or
// Mistral's sliding window (as long as the context, so it hides nothing).
enum class ModelType { Llama, Mistral, Qwen2 };

struct ModelConfig {
  // HF-style model directory (config.json + model.safetensors) to start from; its config.json
  // wins over the fields below. "" = fresh random weights with this architecture (stage lm).
  std::string init_from = "runs/default/base_model";
  // Family of a fresh model (llama, mistral, qwen2); a model from init_from keeps its own.
  ModelType model_type = ModelType::Llama;
  // Vocabulary size; must cover every tokenizer id.
  std::int64_t vocab_size = 2000;
  // Width of the residual stream (H).
  std::int64_t hidden_size = 192;
  // Width of the SwiGLU MLP.
  std::int64_t intermediate_size = 512;
  // Number of decoder blocks.
  std::int64_t num_hidden_layers = 4;
  // Query heads; must divide hidden_size, and the head size must be even (RoPE).
  std::int64_t num_attention_heads = 6;
  // Key/value heads (grouped-query attention); must divide num_attention_heads.
  std::int64_t num_key_value_heads = 2;
  // RMSNorm epsilon.
  double rms_norm_eps = 1e-5;
  // RoPE base frequency.
  double rope_theta = 10000.0;
  // Longest sequence (prompt + response) the model is used for.
  std::int64_t max_position_embeddings = 64;
  // Share the input embedding with the LM head (saves V*H parameters in tiny models).
  bool tie_word_embeddings = true;
};

}  // namespace infalign::config
