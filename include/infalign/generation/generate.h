// Batched sampling from a causal LM: left-padded prompts, a KV cache, per-row stop at EOS.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "infalign/config/generation_config.h"
#include "infalign/config/run_config.h"
#include "infalign/generation/sampler.h"
#include "infalign/model/llama.h"

namespace infalign::generation {

struct GenerationOptions {
  std::int64_t max_new_tokens = 24;
  SamplingOptions sampling;
  bool use_kv_cache = true;  // false recomputes the whole sequence every step (debug, benchmark)
  std::int64_t eos_id = 2;   // a row that samples it is finished; -1 = never stop early
  std::int64_t pad_id = 3;   // left padding of prompts and filler after a row finished
  // One seed per row: row b draws its uniforms from its own splitmix64 stream seeded with
  // row_seeds[b] instead of the shared generator, so a row's sample does not depend on which
  // other rows share its batch (resumable builds seed per prompt, not per batch). Empty = off.
  std::vector<std::uint64_t> row_seeds;
  // Left-pad the prompts to at least this length (0: the longest prompt): a data-parallel rank
  // pads its rows as the whole batch is padded, so its numerics match one process's.
  std::int64_t min_prompt_length = 0;
  // Drop finished rows from the batch (and the KV cache) in steps of an eighth of the batch, so
  // later steps compute mostly rows still generating (a batch of 256 shrinks to 224, 192, ...).
  // Few batch shapes matter: dropping exactly the ended rows (a new shape at every drop) saved no
  // time on the quickstart's calibration (docs/benchmarks.md). Every row draws the same
  // uniforms either way, so the samples are the same as long as a row's logits do not depend on
  // how many rows share its matmuls (checked: the quickstart's calibration cache is identical to
  // the byte); false keeps every row to the end.
  bool drop_finished_rows = true;
};

// The sampler settings of the `generation` section (length, temperature, top-k/p, KV cache), with
// the tokenizer's EOS and padding ids.
GenerationOptions options_from_config(const config::GenerationConfig& g, std::int64_t eos_id,
                                      std::int64_t pad_id);

// Shapes: B rows, P longest prompt, R steps run (<= max_new_tokens; fewer when all rows ended).
struct GenerationResult {
  at::Tensor prompt_ids;     // [B, P] int64, left-padded with pad_id
  at::Tensor prompt_mask;    // [B, P] int64, 1 on prompt tokens
  at::Tensor response_ids;   // [B, R] int64, pad_id after a row's EOS
  at::Tensor response_mask;  // [B, R] int64, 1 on response tokens up to and including EOS
  at::Tensor logprobs;  // [B, R] float32 log_softmax(logits / T) at the sampled ids; 0 off-mask
  at::Tensor ended_with_eos;          // [B] bool
  at::Tensor response_lengths;        // [B] int64, tokens with mask 1
  std::int64_t generated_tokens = 0;  // sum of response_lengths
  // Rows the decoding steps fed through the model, summed over the steps after the prefill:
  // B * (R - 1) unless finished rows were dropped (GenerationOptions::drop_finished_rows).
  std::int64_t decoded_rows = 0;
};

// Each row's response tokens up to its end, without the EOS (CPU copies, in row order).
std::vector<std::vector<std::int64_t>> response_tokens(const GenerationResult& result,
                                                       std::int64_t eos_id);

// Left-pads `prompts` (token ids without padding) into [B, P] ids and mask on `device`, P the
// longest prompt or `min_length` if that is longer.
std::pair<at::Tensor, at::Tensor> left_pad(const std::vector<std::vector<std::int64_t>>& prompts,
                                           std::int64_t pad_id, c10::Device device,
                                           std::int64_t min_length = 0);

// The weights the sampler decodes with (generation.dtype): the model itself for float32, else
// its own copy in that dtype on the model's device. sync() copies the model's current parameters
// into the copy (the constructor does it once; PPO calls it before every rollout, after the
// policy changed). The copy is always in eval mode.
class SamplingModel {
 public:
  SamplingModel(model::CausalLm model, config::DType dtype);
  void sync();
  model::CausalLm& get() { return copy_ ? copy_ : model_; }

 private:
  model::CausalLm model_;
  model::CausalLm copy_{nullptr};
};

// Samples one response per prompt under inference mode. Prompts must be non-empty. The same
// generator state gives the same samples for the same batch.
GenerationResult generate(model::CausalLm& model,
                          const std::vector<std::vector<std::int64_t>>& prompts,
                          const GenerationOptions& options, at::Generator generator);

// log_softmax(logits / T) at `ids`: logits [B, R, V], ids [B, R] -> [B, R] float32: the
// log-probability of each token under the distribution sampling draws from at temperature T.
at::Tensor token_logprobs(const at::Tensor& logits, const at::Tensor& ids, double temperature);

// Per-token estimates of KL(pi || pi_ref) from the sampling policy's and the reference's
// log-probs of the sampled tokens (Schulman, "Approximating KL divergence"): k1 = logp - ref_logp
// (unbiased), k3 = (exp(l) - 1) - l with l = ref_logp - logp clamped to [-20, 20] (unbiased,
// never negative). Zero off the mask. PPO picks one by ppo.kl_estimator (ppo/core.h).
at::Tensor kl_k1(const at::Tensor& logp, const at::Tensor& ref_logp, const at::Tensor& mask);
at::Tensor kl_k3(const at::Tensor& logp, const at::Tensor& ref_logp, const at::Tensor& mask);

// The logits [B, R, V] (float32) that predict each of the R response tokens, by one full
// forward of `input_ids` = prompt (left-padded to `prompt_length`) + response, with `mask` and
// `positions` of the same shape, under run.dtype autocast: the numerics of every training
// forward (PPO's old, reference and updated log-probs; evaluation's KL).
at::Tensor response_logits(model::CausalLm& lm, const at::Tensor& input_ids, const at::Tensor& mask,
                           const at::Tensor& positions, std::int64_t prompt_length,
                           std::int64_t response_length, config::DType dtype);

}  // namespace infalign::generation
