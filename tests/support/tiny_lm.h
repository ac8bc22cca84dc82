// A small random Llama causal LM for the tests that sample or score (LibTorch tests only).
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

#include "infalign/model/llama.h"

namespace infalign::testing {

// 32-token vocabulary, hidden 16, 2 layers, 2 heads (1 KV head), context 32.
inline model::LlamaConfig tiny_config() {
  model::LlamaConfig c;
  c.vocab_size = 32;
  c.hidden_size = 16;
  c.intermediate_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.max_position_embeddings = 32;
  return c;
}

// Weights from the seeded init, matrices scaled by `scale` (larger than 1 makes the next-token
// distributions peaky enough to matter).
template <class Model>
Model tiny_model(const model::LlamaConfig& config, std::uint64_t seed, double scale) {
  Model m(config);
  model::init_weights(*m, at::detail::createCPUGenerator(seed));
  at::NoGradGuard no_grad;
  for (auto& p : m->parameters()) {
    if (p.dim() == 2) p.mul_(scale);
  }
  return m;
}

inline model::CausalLm tiny_lm(std::uint64_t seed, double scale = 25.0) {
  return tiny_model<model::CausalLm>(tiny_config(), seed, scale);
}

}  // namespace infalign::testing
