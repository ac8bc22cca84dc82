// Stage reward: preference pairs from the base policy labelled by a Bradley-Terry draw on the
// hidden gold score, then Bradley-Terry training of a scalar-head reward model initialised from
// the base policy. Output: a Hugging Face LlamaForSequenceClassification directory.
#pragma once

#include <cstdint>
#include <string>

#include "infalign/config/load.h"

namespace infalign::runtime {
class Distributed;
}

namespace infalign::train {

struct RewardResult {
  std::string model_dir;
  std::int64_t train_pairs = 0, valid_pairs = 0;
  double valid_accuracy =
      0;  // RM prefers the labelled-chosen response (held-out pairs of a prompt)
  double valid_gold_accuracy = 0;  // ... orders such a pair as the gold score does (ties skipped)
  double valid_cross_prompt_accuracy = 0;  // labelled pairs whose continuations differ in prompt
  double spearman = 0;                     // RM score vs gold score on all held-out base samples
  double spearman_within_prompt = 0;       // the same per prompt, averaged
  double uci_accuracy = 0;  // human-labelled sentences, threshold at the median score
  double uci_auc = 0;       // P(score of a positive sentence > a negative one)
};

// Runs (or resumes) stage reward in run.run_dir; writes preference_pairs.tsv and
// reward_report.json there and the model to train.output_dir (default <run_dir>/model).
// With `dist` over W processes every rank samples the same continuations (one shared seeded
// stream), each scores batch_size / W groups of every micro-batch with its pairs weighted by the
// whole micro-batch's pair count, and gradients are summed; rank 0 evaluates and writes.
RewardResult train_reward_model(const config::LoadedConfig& loaded,
                                runtime::Distributed* dist = nullptr);

}  // namespace infalign::train
