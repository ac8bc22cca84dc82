// Batched reward scoring of (prompt, response) pairs by the learned reward model or the gold
// judge: what calibration, PPO and evaluation call, so every stage scores the same way.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "infalign/config/experiment_config.h"
#include "infalign/generation/generate.h"
#include "infalign/model/llama.h"
#include "infalign/reward/vader.h"
#include "infalign/tokenizer/tokenizer.h"

namespace infalign::reward {

struct ScoredText {
  const std::vector<std::int64_t>* prompt_ids = nullptr;  // <bos> prompt
  std::vector<std::int64_t> response_ids;                 // without <eos> and padding
  std::string response_text;                              // decoded response (gold judge, command)
  std::string prompt_text;  // decoded prompt without <bos>, as the policy read it (command)
};

class RewardScorer {
 public:
  virtual ~RewardScorer() = default;
  virtual std::vector<double> score(const std::vector<ScoredText>& items) = 0;
  // sha256 of what determines the scores (model weights, or lexicon file).
  virtual const std::string& content_hash() const = 0;
  virtual const char* kind() const = 0;  // "model", "gold" or "command"
  // Whether score() reads ScoredText::response_text (otherwise it need not be decoded).
  virtual bool needs_text() const = 0;
};

// The items to score for a generation batch: row b pairs `prompts[b]` with its response
// (EOS dropped), response and prompt decoded when `decode` (pass scorer.needs_text() unless the
// text is kept).
std::vector<ScoredText> scored_texts(const std::vector<const std::vector<std::int64_t>*>& prompts,
                                     const generation::GenerationResult& result,
                                     const tokenizer::Tokenizer& tok, bool decode);

// The token ids a reward model reads for one item: <bos> prompt response <eos> (or <bos>
// response <eos> when `input` is Response), cut to `limit` tokens with the <eos> kept, so the
// score is always read at an <eos> (the convention of stage reward).
struct ScoreFormat {
  std::int64_t bos_id = 1, eos_id = 2;
  config::RewardInput input = config::RewardInput::PromptResponse;
  std::size_t limit = 0;  // max_position_embeddings of the reward model
};
std::vector<std::int64_t> score_input_ids(const ScoreFormat& format,
                                          const std::vector<std::int64_t>& prompt_ids,
                                          const std::vector<std::int64_t>& response_ids);

// A reward model with a tokenizer of its own (reward.tokenizer_path): the decoded prompt and
// response text are encoded again with it (the prompt as every stage encodes prompts, cut to
// `max_prompt_tokens`).
struct OwnTokenizer {
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  std::int64_t max_prompt_tokens = 0;
};

// A learned reward model: each item as score_input_ids makes it, scored at the <eos>, in
// batches of `batch_size`, without gradients. With `own`, from the re-encoded text instead of
// the policy's ids (`format` then holds the reward model's bos and eos).
class ModelScorer : public RewardScorer {
 public:
  ModelScorer(model::ScalarModel model, ScoreFormat format, std::int64_t pad_id,
              std::int64_t batch_size, std::string hash, OwnTokenizer own = {},
              config::DType dtype = config::DType::Float32);
  std::vector<double> score(const std::vector<ScoredText>& items) override;
  const std::string& content_hash() const override { return hash_; }
  const char* kind() const override { return "model"; }
  bool needs_text() const override { return own_.tokenizer != nullptr; }
  model::ScalarModel& model() { return model_; }

 private:
  model::ScalarModel model_;
  ScoreFormat format_;
  std::int64_t pad_id_, batch_size_;
  std::string hash_;
  OwnTokenizer own_;
  config::DType dtype_;
};

// reward.kind command: a program of the user's, run with /bin/sh -c once per batch; stdin gets
// one {"prompt": ..., "response": ...} JSON object a line, stdout must give one finite number a
// line in the same order, and the exit status must be 0. A timeout, crash, wrong line count or
// a line that is not a number is an Error (exit 1) naming the command and what it did.
class CommandScorer : public RewardScorer {
 public:
  CommandScorer(std::string command, double timeout_seconds);
  std::vector<double> score(const std::vector<ScoredText>& items) override;
  // sha256 of the command text and of every file its words name (a script's content).
  const std::string& content_hash() const override { return hash_; }
  const char* kind() const override { return "command"; }
  bool needs_text() const override { return true; }

 private:
  std::string command_;
  double timeout_seconds_;
  std::string hash_;
};

class GoldScorer : public RewardScorer {
 public:
  GoldScorer(VaderScorer judge, std::string hash);
  std::vector<double> score(const std::vector<ScoredText>& items) override;
  const std::string& content_hash() const override { return hash_; }
  const char* kind() const override { return "gold"; }
  bool needs_text() const override { return true; }

 private:
  VaderScorer judge_;
  std::string hash_;
};

// Scores token sequences (each already <bos> ... <eos>) with a reward model, in batches, its
// forward under `dtype` autocast.
std::vector<double> score_sequences(model::ScalarModel& rm,
                                    const std::vector<std::vector<std::int64_t>>& ids,
                                    std::int64_t pad_id, std::int64_t batch_size,
                                    config::DType dtype = config::DType::Float32);

// sha256 of a model directory's weights and config: config.json and model.safetensors, or
// model.safetensors.index.json and every shard it names.
std::string model_content_hash(const std::string& dir);

// The scorer reward.kind selects: the model at reward.model_path, or the gold judge over
// reward.lexicon_path.
std::unique_ptr<RewardScorer> make_scorer(const config::ExperimentConfig& cfg,
                                          const tokenizer::Tokenizer& tok, c10::Device device);

}  // namespace infalign::reward
