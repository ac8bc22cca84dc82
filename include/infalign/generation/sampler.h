// Turning next-token logits into a draw: temperature, top-k and top-p filters, and an
// inverse-CDF draw from uniforms that the caller supplies (so randomness is explicit).
#pragma once

#include <cstdint>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace infalign::generation {

struct SamplingOptions {
  double temperature = 1.0;  // > 0; logits are divided by it
  std::int64_t top_k = 0;    // keep the k most likely tokens (ties with the k-th kept); 0 = off
  double top_p = 1.0;        // keep the smallest most-likely set with mass >= top_p; 1 = off
};

// The distribution a token is drawn from: softmax(logits / T) restricted by top-k, then top-p,
// and renormalised. logits [B, V] -> probabilities [B, V] float32.
at::Tensor sampling_probs(const at::Tensor& logits, const SamplingOptions& options);

// Inverse-CDF draw: row b takes the first token whose cumulative probability exceeds
// uniforms[b] (in [0, 1)). Tokens of probability 0 are never drawn. probs [B, V] -> ids [B].
at::Tensor draw_tokens(const at::Tensor& probs, const at::Tensor& uniforms);

struct Sample {
  at::Tensor ids;       // [B] int64
  at::Tensor logprobs;  // [B] float32: log_softmax(logits / T) at ids (unfiltered, as PPO needs)
};

// The uniforms of `rows` rows from `generator` (float64 [rows], on the CPU): what the overload
// below draws with.
at::Tensor generator_uniforms(std::int64_t rows, at::Generator generator);

// Draws one token per row with uniforms from `generator`.
Sample sample_tokens(const at::Tensor& logits, const SamplingOptions& options,
                     at::Generator generator);
// The same with the caller's uniforms [B] (float64, in [0, 1)).
Sample sample_tokens(const at::Tensor& logits, const SamplingOptions& options,
                     const at::Tensor& uniforms);

}  // namespace infalign::generation
