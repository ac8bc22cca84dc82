// The `reward` section: the scorer PPO and calibration use, and the Bradley-Terry reward trainer.
#pragma once

#include <cstdint>
#include <string>

#include "infalign/config/run_config.h"

namespace infalign::config {

// What scores a response.
enum class RewardKind { Model, Gold, Command };

// What a reward model reads: <bos> prompt response <eos>, or <bos> response <eos>.
enum class RewardInput { PromptResponse, Response };

struct RewardConfig {
  // Scorer: model (learned reward model), gold (lexicon sentiment judge) or command (a program
  // of yours: reward.command).
  RewardKind kind = RewardKind::Model;
  // HF-style reward-model directory (LlamaForSequenceClassification layout); output of stage
  // reward, input of calibrate and ppo when kind is model.
  std::string model_path = "runs/default/reward_model";
  // kind model: the reward model's own SentencePiece tokenizer when it differs from the
  // policy's (a reward model made elsewhere): it scores the decoded prompt and response text,
  // encoded again with this file. Empty: the policy's tokenizer ids are scored directly.
  std::string tokenizer_path = "";
  // VADER-style lexicon file for the gold judge.
  std::string lexicon_path = "data/default/vader_lexicon.txt";
  // kind command: a shell command (run with /bin/sh -c) that reads a batch as JSONL on stdin,
  // one {"prompt": ..., "response": ...} a line, and prints one number a line on stdout, in
  // order, then exits with status 0 (scripts/examples/keyword_scorer.py). Run once per batch.
  std::string command = "";
  // kind command: seconds one batch may take before the command is killed (an error, exit 1).
  double command_timeout_seconds = 120.0;
  // Sequences scored together in one forward (one command run for kind command).
  std::int64_t batch_size = 64;
  // kind model: compute dtype of the reward model's scoring forward (calibration, PPO,
  // evaluation): float32, or bfloat16 autocast (PPO's score phase 0.45 -> 0.18 s on the default
  // experiment here; bfloat16 also when run.frozen_dtype stores its weights in bfloat16). Part of
  // the scorer's identity: a calibration cache made with one is refused by a run that scores with
  // the other.
  DType dtype = DType::Float32;
  // Stage reward: your preference pairs, a JSONL file of {"prompt", "chosen", "rejected"}
  // objects, instead of pairs of base-policy continuations labelled by the gold judge. Empty:
  // the gold judge labels (the default task).
  std::string preferences_file = "";
  // Stage reward with preferences_file: share of the pairs held out for accuracy (chosen by a
  // seeded hash of each pair's text, so the split is stable).
  double preferences_valid_fraction = 0.1;
  // Stage reward: prompts taken from the training split (first words of records) for pairs.
  std::int64_t train_prompts = 2000;
  // Stage reward: base-policy continuations sampled per prompt.
  std::int64_t samples_per_prompt = 4;
  // Stage reward: prompts per comparison group; every pair of continuations inside a group is
  // labelled and trained on together (pairs across prompts tie the score scale across prompts).
  std::int64_t prompts_per_group = 1;
  // Stage reward: drop pairs whose gold scores are equal (their label is a coin flip).
  bool drop_ties = true;
  // Stage reward: what the trained reward model reads: prompt_response (<bos> prompt response
  // <eos>, the usual convention) or response (<bos> response <eos>: for tasks whose preference
  // depends on the response alone, like the default one, so the prompt's own words cannot move
  // the score). Recorded in the model's config.json (infalign_score_input); calibration, PPO and
  // evaluation read it from there.
  RewardInput input = RewardInput::PromptResponse;
  // Stage reward: Bradley-Terry label noise tau in P(a > b) = sigmoid((g_a - g_b) / tau).
  double label_temperature = 0.1;
};

}  // namespace infalign::config
