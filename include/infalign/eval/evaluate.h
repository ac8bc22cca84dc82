// `infalign-eval`'s work: M samples per evaluation prompt from the base and from each policy
// (batched through the sampling engine, every row seeded by (seed, stream, prompt, index)),
// scored by each judge; per-sequence KL(policy || base) by full forwards of both models; the
// win rates of winrate.h per prompt, averaged with bootstrap intervals; the outputs of report.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "infalign/calibration/builder.h"
#include "infalign/config/load.h"
#include "infalign/eval/report.h"
#include "infalign/generation/generate.h"
#include "infalign/model/llama.h"
#include "infalign/reward/scorer.h"
#include "infalign/tokenizer/tokenizer.h"

namespace infalign {
class Progress;
}

namespace infalign::runtime {
class Distributed;
}

namespace infalign::eval {

// M samples of each prompt from one model, prompt-major (row = prompt * M + k).
struct ModelSamples {
  std::vector<std::vector<double>> scores;  // [judge][row]
  std::vector<double> k1, k3;  // per sequence: sum over response tokens (empty without a base)
  std::vector<std::int64_t> lengths;  // response tokens, EOS included
  std::vector<std::uint8_t> eos;      // 1 when the response ended with EOS
  std::vector<std::string> texts;     // decoded responses (SamplingPlan::keep_texts; not gathered)
};

struct SamplingPlan {
  generation::GenerationOptions options;  // row_seeds are set per batch
  std::int64_t batch_size = 64;
  std::uint64_t seed = 0;
  std::string stream;                            // separates the base's draws from the policies'
  config::DType dtype = config::DType::Float32;  // the KL forwards' autocast
  config::DType sampler_dtype = config::DType::Float32;  // generation.dtype
  bool keep_texts = false;                               // decode every response into `texts`
  // Test hook (INFALIGN_TEST_RANK0_DELAY_MS on rank 0): milliseconds slept before each batch, so
  // that the other ranks wait for this one in a collective.
  std::int64_t test_delay_ms = 0;
};

// Samples `per_prompt` responses of every prompt from `model`, scores them with `judges`, and,
// when `base` is given, the per-sequence KL estimates k1 = sum(logp - logp_base) and
// k3 = sum(exp(l) - 1 - l), l = logp_base - logp, at the sampling temperature.
// `tok` builds the judges' inputs (may be null when there are no judges).
// `progress` (optional) is updated with `*done` advanced by the rows sampled.
ModelSamples sample_and_score(model::CausalLm& model, model::CausalLm* base,
                              const tokenizer::Tokenizer* tok,
                              const calibration::PromptSet& prompts, std::int64_t per_prompt,
                              SamplingPlan plan, const std::vector<reward::RewardScorer*>& judges,
                              Progress* progress = nullptr, std::int64_t* done = nullptr);

// What a path in eval.policies is: an HF model directory (config.json), a training checkpoint
// (policy.safetensors; the architecture comes from eval.base_model), or a run directory (its
// `final` export, else its latest checkpoint).
struct PolicySource {
  std::string name;             // run name (plus @step for a checkpoint), else the directory name
  std::string config_dir;       // where config.json is
  std::string weights_file;     // the safetensors file with the weights
  std::string resolved_config;  // the training run's config.resolved.yaml, "" if none
};
PolicySource resolve_policy(const std::string& path, const std::string& base_model);

// The whole evaluation; writes results.json, results.csv, samples.jsonl.gz (eval.write_samples),
// oracle.json / oracle.csv (oracle.enabled) and the plot into `out_dir`. Per prompt it draws
// eval.samples_per_prompt base samples (the base side of every duel), eval.calibration_samples
// more (the calibration set: each sample's u; the oracle's candidates) and the same number as
// the first from each policy. With `oracle_only` it draws the base's samples and computes the
// oracle alone (`infalign-eval oracle`). With `dist` over W processes each rank samples, scores
// and measures the KL of a contiguous 1/W of the prompts; rank 0 gathers the per-sample results
// (the same numbers as one process: every sample is seeded by its prompt and index) and computes
// and writes everything (each rank writes its prompts' sample records, rank 0 joins them).
EvalResults run_evaluation(const config::LoadedConfig& loaded, const std::string& out_dir,
                           runtime::Distributed* dist = nullptr, bool oracle_only = false);

}  // namespace infalign::eval
