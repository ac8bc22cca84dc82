#include "infalign/config/validate.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "infalign/config/names.h"
#include "infalign/core/error.h"

#include "detail/schema.h"

namespace infalign::config {

std::string ConfigIssue::str() const {
  return fmt::format("{}: {}: {}", where.str(), key, message);
}

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

class Issues {
 public:
  explicit Issues(const ConfigSources& sources) : sources_(sources) {}
  void add(const std::string& key, std::string message) {
    issues_.push_back({key, sources_.locate(key), std::move(message)});
  }
  std::vector<ConfigIssue> take() { return std::move(issues_); }

 private:
  const ConfigSources& sources_;
  std::vector<ConfigIssue> issues_;
};

bool stage_samples_from_base(Stage stage) {
  return stage == Stage::Reward || stage == Stage::Calibrate || stage == Stage::Ppo;
}

void check_lora(const ExperimentConfig& c, Issues& issues) {
  const LoraConfig& l = c.lora;
  if (l.rank == 0) return;
  const std::vector<std::string>& known = kLoraProjections;
  if (l.targets.empty()) issues.add("lora.targets", "got [], expected at least one projection");
  for (const std::string& t : l.targets) {
    if (std::find(known.begin(), known.end(), t) == known.end()) {
      issues.add("lora.targets", fmt::format("got \"{}\", expected projections among {}", t,
                                             fmt::join(known, ", ")));
    }
  }
  if (l.dropout != 0.0) {
    issues.add("lora.dropout", fmt::format("got {}, but only 0 is implemented (checkpointed "
                                           "recomputation and exact resume need forwards "
                                           "without randomness)",
                                           l.dropout));
  }
}

// Whether `b` divides `a`; a `b` of 0 or less (its own range check reports it) divides nothing
// here, so no rule divides by zero (found by fuzz_config).
bool divides(std::int64_t b, std::int64_t a) { return b > 0 && a % b == 0; }

void check_train(const ExperimentConfig& c, Issues& issues) {
  if (c.train.total_steps == 0 && !(c.run.stage == Stage::Lm && c.model.init_from.empty())) {
    issues.add("train.total_steps",
               "got 0, which only stage lm with model.init_from \"\" takes (write a fresh "
               "model without training); expected at least 1");
  }
}

void check_model(const ExperimentConfig& c, Issues& issues) {
  const ModelConfig& m = c.model;
  if (m.num_attention_heads <= 0) {
    // its range check reports it
  } else if (!divides(m.num_attention_heads, m.hidden_size)) {
    issues.add("model.num_attention_heads",
               fmt::format("got {}, expected a divisor of model.hidden_size ({})",
                           m.num_attention_heads, m.hidden_size));
  } else if ((m.hidden_size / m.num_attention_heads) % 2 != 0) {
    issues.add("model.hidden_size",
               fmt::format("got {}, expected hidden_size / num_attention_heads to be even for "
                           "rotary embeddings (head size is {})",
                           m.hidden_size, m.hidden_size / m.num_attention_heads));
  }
  if (m.num_key_value_heads > 0 && !divides(m.num_key_value_heads, m.num_attention_heads)) {
    issues.add("model.num_key_value_heads",
               fmt::format("got {}, expected a divisor of model.num_attention_heads ({})",
                           m.num_key_value_heads, m.num_attention_heads));
  }
  const std::int64_t needed = c.data.max_prompt_tokens + c.generation.max_new_tokens;
  if (m.max_position_embeddings < needed) {
    issues.add("model.max_position_embeddings",
               fmt::format("got {}, expected at least data.max_prompt_tokens + "
                           "generation.max_new_tokens = {} + {} = {}",
                           m.max_position_embeddings, c.data.max_prompt_tokens,
                           c.generation.max_new_tokens, needed));
  }
  if (c.data.seq_len > m.max_position_embeddings) {
    issues.add("data.seq_len", fmt::format("got {}, expected at most model.max_position_embeddings "
                                           "({})",
                                           c.data.seq_len, m.max_position_embeddings));
  }
  // A fresh model (stage lm) must cover the tokenizer; a loaded one brings its own config.json.
  // (A tokenizer.json's size is known when it loads: stage lm checks it then.)
  if (m.init_from.empty() && !is_tokenizer_json(c.tokenizer.path) &&
      m.vocab_size < c.tokenizer.vocab_size) {
    issues.add("model.vocab_size",
               fmt::format("got {}, expected at least tokenizer.vocab_size ({})", m.vocab_size,
                           c.tokenizer.vocab_size));
  }
}

void check_tokenizer(const ExperimentConfig& c, Issues& issues) {
  const TokenizerConfig& t = c.tokenizer;
  const bool hf_json = is_tokenizer_json(t.path);
  if (!ends_with(t.path, ".model") && !hf_json) {
    issues.add("tokenizer.path", fmt::format("got \"{}\", expected a SentencePiece file name "
                                             "ending in .model or a Hugging Face tokenizer.json",
                                             t.path));
  }
  if (hf_json && c.run.stage == Stage::Tokenizer) {
    issues.add("run.stage", fmt::format("tokenizer trains a SentencePiece model, but "
                                        "tokenizer.path \"{}\" is a tokenizer.json, which is "
                                        "used as it is: skip this stage",
                                        t.path));
  }
  const std::pair<const char*, std::int64_t> ids[] = {
      {"unk_id", t.unk_id}, {"bos_id", t.bos_id}, {"eos_id", t.eos_id}, {"pad_id", t.pad_id}};
  for (std::size_t i = 0; i < std::size(ids); ++i) {
    // A tokenizer.json's ids are checked against its vocabulary when it loads.
    if (!hf_json && ids[i].second >= t.vocab_size) {
      issues.add(std::string("tokenizer.") + ids[i].first,
                 fmt::format("got {}, expected an id below tokenizer.vocab_size ({})",
                             ids[i].second, t.vocab_size));
    }
    for (std::size_t j = 0; j < i; ++j) {
      // Padding is told apart by attention masks, so a tokenizer without a pad piece may pad
      // with unk's or bos's id; never with EOS's (a response's EOS must stay a token).
      const bool pad_filler =
          std::string(ids[i].first) == "pad_id" && std::string(ids[j].first) != "eos_id";
      if (ids[i].second == ids[j].second && !pad_filler) {
        std::string hint =
            (std::string(ids[i].first) == "pad_id" && std::string(ids[j].first) == "eos_id")
                ? ": with pad == eos the EOS is masked out and the policy never "
                  "learns to stop"
                : "";
        issues.add(std::string("tokenizer.") + ids[i].first,
                   fmt::format("got {}, the same id as tokenizer.{}; expected distinct special "
                               "ids{}",
                               ids[i].second, ids[j].first, hint));
      }
    }
  }
}

void check_stage(const ExperimentConfig& c, Issues& issues) {
  const std::string stage(enum_name(c.run.stage));
  if (stage_samples_from_base(c.run.stage) && c.model.init_from.empty()) {
    issues.add("model.init_from",
               fmt::format("missing; required when run.stage is {}: the base policy directory "
                           "written by stage lm",
                           stage));
  }
  const bool scores_with_model = c.run.stage == Stage::Calibrate || c.run.stage == Stage::Ppo;
  if (scores_with_model && c.reward.kind == RewardKind::Model && c.reward.model_path.empty()) {
    issues.add(
        "reward.model_path",
        fmt::format("missing; required when run.stage is {} and reward.kind is model", stage));
  }
  const bool command_judge =
      std::find(c.eval.judges.begin(), c.eval.judges.end(), Judge::Command) != c.eval.judges.end();
  if (((scores_with_model && c.reward.kind == RewardKind::Command) || command_judge) &&
      c.reward.command.empty()) {
    issues.add("reward.command",
               fmt::format("missing; required when {}: the program that scores a batch",
                           command_judge ? "eval.judges has command"
                                         : "reward.kind is command and run.stage is " + stage));
  }
  if (c.run.stage == Stage::Reward &&
      c.reward.samples_per_prompt * c.reward.prompts_per_group < 2) {
    issues.add("reward.samples_per_prompt",
               fmt::format("got {} with reward.prompts_per_group {}: a comparison group needs at "
                           "least 2 continuations",
                           c.reward.samples_per_prompt, c.reward.prompts_per_group));
  }
  if (c.run.stage == Stage::Ppo) {
    // Top-k/top-p at rollout time bias the PPO ratio (docs/method.md section 7, item 4).
    if (c.generation.top_k != 0) {
      issues.add("generation.top_k", fmt::format("got {}, expected 0 when run.stage is ppo: "
                                                 "truncated sampling biases the PPO ratio",
                                                 c.generation.top_k));
    }
    if (c.generation.top_p != 1.0) {
      issues.add("generation.top_p", fmt::format("got {}, expected 1 when run.stage is ppo: "
                                                 "truncated sampling biases the PPO ratio",
                                                 c.generation.top_p));
    }
  }
}

void check_ppo(const ExperimentConfig& c, Issues& issues) {
  const PpoConfig& p = c.ppo;
  if (p.num_mini_batches <= 0) {
    // its range check reports it
  } else if (!divides(p.num_mini_batches, p.rollout_batch_size)) {
    issues.add("ppo.num_mini_batches",
               fmt::format("got {}, expected a divisor of ppo.rollout_batch_size ({})",
                           p.num_mini_batches, p.rollout_batch_size));
  } else if (p.micro_batch_size > 0 &&
             (p.rollout_batch_size / p.num_mini_batches) % p.micro_batch_size != 0) {
    issues.add("ppo.micro_batch_size",
               fmt::format("got {}, expected a divisor of the minibatch size "
                           "rollout_batch_size / num_mini_batches = {}",
                           p.micro_batch_size, p.rollout_batch_size / p.num_mini_batches));
  }
  if (p.adaptive_kl && !p.target_kl) {
    issues.add("ppo.target_kl", "missing; required when ppo.adaptive_kl is true");
  }
  if (p.samples_per_prompt > 0 && !divides(p.samples_per_prompt, p.rollout_batch_size)) {
    issues.add("ppo.samples_per_prompt",
               fmt::format("got {}, expected a divisor of ppo.rollout_batch_size ({}): each "
                           "prompt of a rollout batch gets this many samples",
                           p.samples_per_prompt, p.rollout_batch_size));
  }
  if (p.advantage != Advantage::Gae && p.samples_per_prompt < 2) {
    issues.add("ppo.samples_per_prompt",
               fmt::format("got {} with ppo.advantage {}, expected at least 2: the baseline of a "
                           "sample is the other samples of its prompt",
                           p.samples_per_prompt, enum_name(p.advantage)));
  }
  // What theory::Transform::validate refuses, said at load (before any sampling): exp(t u)
  // overflows a double above t = 700 unless normalised.
  if (c.transform.kind == TransformKind::Exp && !c.transform.normalize && c.transform.t > 700) {
    issues.add("transform.t",
               fmt::format("got {} with transform.normalize false: exp(t u) overflows above "
                           "t = 700; expected t <= 700 or normalize: true",
                           c.transform.t));
  }
  if (p.kl_coef_from_theory) {
    if (!p.target_kl) {
      issues.add("ppo.target_kl",
                 "missing; required when ppo.kl_coef_from_theory is true (the KL whose "
                 "theory beta is used)");
    }
    if (c.transform.kind == TransformKind::Raw) {
      issues.add("ppo.kl_coef_from_theory",
                 "got true with transform.kind raw, expected a calibrated transform: the theory "
                 "beta exists only in calibrated space");
    }
  }
  if (p.kl_estimator == KlEstimator::Full && p.whiten_rewards) {
    issues.add("ppo.whiten_rewards",
               "got true with ppo.kl_estimator full; expected false: whitening the rewards "
               "rescales the KL penalty inside them but not the full estimator's loss term");
  }
  if (p.critic_warmup_steps > 0 && p.advantage != Advantage::Gae) {
    issues.add("ppo.critic_warmup_steps",
               fmt::format("got {} with ppo.advantage {}, expected 0: only gae has a value model",
                           p.critic_warmup_steps, enum_name(p.advantage)));
  }
  if (p.critic_warmup_steps >= p.total_steps) {
    issues.add("ppo.critic_warmup_steps",
               fmt::format("got {}, expected fewer than ppo.total_steps ({}) so the policy trains",
                           p.critic_warmup_steps, p.total_steps));
  }
}

void check_eval(const ExperimentConfig& c, Issues& issues) {
  const auto& ns = c.eval.best_of_n;
  if (!ns.empty()) {
    const std::int64_t largest = *std::max_element(ns.begin(), ns.end());
    if (c.eval.samples_per_prompt < largest) {
      issues.add("eval.samples_per_prompt",
                 fmt::format("got {}, expected at least the largest N in eval.best_of_n ({}): "
                             "the exact best-of-N estimator needs N <= M",
                             c.eval.samples_per_prompt, largest));
    }
    if (c.oracle.enabled && c.eval.calibration_samples < std::max<std::int64_t>(2, largest)) {
      issues.add("eval.calibration_samples",
                 fmt::format("got {}, expected at least {} with oracle.enabled: the oracle "
                             "reweights these samples (each calibrated against the others) and "
                             "draws the best and worst of N from them",
                             c.eval.calibration_samples, std::max<std::int64_t>(2, largest)));
    }
  }
}

}  // namespace

std::vector<ConfigIssue> validate_config(const ExperimentConfig& config,
                                         const ConfigSources& sources) {
  Issues issues(sources);
  for (const auto& field : detail::schema()) {
    if (field.check) {
      if (auto error = field.check(config)) issues.add(field.path(), *error);
    }
  }
  check_model(config, issues);
  check_lora(config, issues);
  check_train(config, issues);
  check_tokenizer(config, issues);
  check_stage(config, issues);
  check_ppo(config, issues);
  check_eval(config, issues);
  auto result = issues.take();
  std::stable_sort(result.begin(), result.end(),
                   [](const ConfigIssue& a, const ConfigIssue& b) { return a.key < b.key; });
  return result;
}

void check_input_files(const ExperimentConfig& c, const ConfigSources& sources, bool for_eval) {
  struct Input {
    std::string key;
    std::string path;
    std::string made_by;
  };
  std::vector<Input> inputs;
  auto add = [&](std::string key, const std::string& path, std::string made_by) {
    inputs.push_back({std::move(key), path, std::move(made_by)});
  };
  auto prepared = [&](const char* key, const std::string& path) {
    add(key, path, "the output of scripts/prepare_data.sh");
  };
  auto reward_model = [&] {
    add("reward.model_path", c.reward.model_path, "the output of stage reward");
    if (!c.reward.tokenizer_path.empty()) {
      add("reward.tokenizer_path", c.reward.tokenizer_path,
          "the reward model's SentencePiece tokenizer");
    }
  };
  if (for_eval) {
    add("eval.base_model", c.eval.base_model, "the output of stage lm");
    for (std::size_t i = 0; i < c.eval.policies.size(); ++i) {
      add(fmt::format("eval.policies[{}]", i), c.eval.policies[i], "the output of stage ppo");
    }
    prepared("data.eval_prompts_file", c.data.eval_prompts_file);
    add("tokenizer.path", c.tokenizer.path, "the output of stage tokenizer");
    for (Judge judge : c.eval.judges) {
      if (judge == Judge::RewardModel) reward_model();
      if (judge == Judge::Gold) prepared("reward.lexicon_path", c.reward.lexicon_path);
      // Judge::Command runs a program: no file to check.
    }
  } else {
    switch (c.run.stage) {
      case Stage::Tokenizer:
        prepared("data.train_file", c.data.train_file);
        break;
      case Stage::Lm:
        add("tokenizer.path", c.tokenizer.path, "the output of stage tokenizer");
        prepared("data.train_file", c.data.train_file);
        prepared("data.valid_file", c.data.valid_file);
        if (!c.model.init_from.empty()) {
          add("model.init_from", c.model.init_from, "the output of stage lm");
        }
        break;
      case Stage::Reward:
      case Stage::Calibrate:
      case Stage::Ppo: {
        add("tokenizer.path", c.tokenizer.path, "the output of stage tokenizer");
        add("model.init_from", c.model.init_from, "the output of stage lm");
        // Stage reward on the user's pairs reads neither the prompts nor the gold judge.
        const bool user_pairs = c.run.stage == Stage::Reward && !c.reward.preferences_file.empty();
        if (user_pairs) {
          add("reward.preferences_file", c.reward.preferences_file,
              "your preference pairs (JSONL of prompt, chosen, rejected)");
        } else {
          prepared("data.train_prompts_file", c.data.train_prompts_file);
          if (c.run.stage == Stage::Reward || c.reward.kind == RewardKind::Gold) {
            prepared("reward.lexicon_path", c.reward.lexicon_path);
          } else if (c.reward.kind == RewardKind::Model) {
            reward_model();
          }
        }
        break;
      }
    }
    if (c.checkpoint.resume != "auto" && c.checkpoint.resume != "never") {
      add("checkpoint.resume", c.checkpoint.resume, "the output of a previous run");
    }
  }
  std::vector<std::string> messages;
  for (const auto& input : inputs) {
    std::error_code ec;
    if (!std::filesystem::exists(input.path, ec)) {
      messages.push_back(fmt::format("{}: {}: '{}' does not exist; expected {}",
                                     sources.locate(input.key).str(), input.key, input.path,
                                     input.made_by));
    }
  }
  if (!messages.empty()) throw ConfigError(std::move(messages));
}

bool is_tokenizer_json(std::string_view path) { return ends_with(path, ".json"); }

}  // namespace infalign::config
