// The `eval` section: what `infalign-eval` compares and how (inference-time win rates vs base).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace infalign::config {

// Who decides a win: the learned reward model or the hidden gold judge.
enum class Judge { RewardModel, Gold, Command };

struct EvalConfig {
  // Policy model directories or checkpoints to evaluate.
  std::vector<std::string> policies = {};
  // Base policy directory every policy is compared with.
  std::string base_model = "runs/default/base_model";
  // Judges: reward_model, gold, or both.
  std::vector<Judge> judges = {Judge::RewardModel, Judge::Gold};
  // Evaluation prompts used; 0 = all of data.eval_prompts_file.
  std::int64_t num_prompts = 0;
  // Samples per prompt per model (M); must be >= every N in best_of_n.
  std::int64_t samples_per_prompt = 32;
  // The N of best-of-N and worst-of-N win rates; N = 1 is the standard win rate.
  std::vector<std::int64_t> best_of_n = {1, 2, 4, 8, 16, 32};
  // Bootstrap resamples over prompts for confidence intervals.
  std::int64_t bootstrap_resamples = 1000;
  // Confidence level of the intervals, in (0, 1).
  double confidence = 0.95;
  // Output directory; "" = <run.run_dir>/eval.
  std::string output_dir = "";
  // Base samples per prompt in the calibration set (drawn apart from the base samples the
  // policies duel): every sample's u, the u histograms and u_kl, and the oracle's candidates
  // (each calibrated against the others). 256 keeps the oracle's best-of-4 within 0.01 of the
  // theory and u_kl within 4% (docs/frontier.md). 0 = none (no u, no oracle).
  std::int64_t calibration_samples = 256;
  // Write samples.jsonl.gz: one record per sample (prompt, model, response, scores, u).
  bool write_samples = true;
  // Draw win_rates.png with scripts/plot_eval.py (needs python3-matplotlib).
  bool plot = true;
};

}  // namespace infalign::config
