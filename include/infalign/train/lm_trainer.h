// Stage lm: pretraining / supervised fine-tuning of a causal LM on a one-record-per-line corpus,
// with exact resume. Output: a Hugging Face model directory (the base policy).
#pragma once

#include <string>
#include <vector>

#include "infalign/config/load.h"

namespace infalign::runtime {
class Distributed;
}

namespace infalign::train {

struct LmResult {
  std::string model_dir;
  std::int64_t steps = 0;
  double valid_loss = 0;  // mean next-token cross-entropy (nats) on the validation chunks
  double valid_perplexity = 0;
  double unigram_perplexity = 0;  // add-one unigram model of the training split, same targets
  std::vector<std::string> samples;
};

// Runs (or resumes, per checkpoint.resume) stage lm in run.run_dir. Checkpoints every
// checkpoint.every_steps, and on SIGINT/SIGTERM before throwing Interrupted. Writes the model to
// train.output_dir (default <run_dir>/model) and lm_report.json to the run directory.
// With `dist` over W processes each rank computes the loss of batch_size / W sequences of every
// micro-batch and the gradients are summed (the same update as one process); rank 0 validates,
// samples and writes everything.
LmResult train_lm(const config::LoadedConfig& loaded, runtime::Distributed* dist = nullptr);

}  // namespace infalign::train
