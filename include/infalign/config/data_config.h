// The `data` section: the corpus splits and prompt sets the stages read.
#pragma once

#include <cstdint>
#include <string>

namespace infalign::config {

struct DataConfig {
  // Training split of the text corpus (one record per line, written by scripts/prepare_data.sh).
  std::string train_file = "data/default/train.txt";
  // Validation split of the text corpus.
  std::string valid_file = "data/default/valid.txt";
  // Prompts for calibration and PPO training (disjoint from eval_prompts_file).
  std::string train_prompts_file = "data/default/prompts_train.txt";
  // Prompts for evaluation.
  std::string eval_prompts_file = "data/default/prompts_eval.txt";
  // The member holding the prompt in a prompts file ending in .jsonl (one JSON object a line, as
  // scripts/render_prompts.py writes); such prompts may span lines. Other files: one a line.
  std::string prompt_field = "prompt";
  // Prompts longer than this many tokens are cut from the left.
  std::int64_t max_prompt_tokens = 16;
  // Tokens per training sequence for stage lm.
  std::int64_t seq_len = 64;
  // Shuffle training data each epoch (order derived from run.seed and the epoch).
  bool shuffle = true;
};

}  // namespace infalign::config
