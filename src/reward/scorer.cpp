#include "infalign/reward/scorer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <ATen/ATen.h>

#include "infalign/checkpoint/safetensors.h"
#include "infalign/checkpoint/safetensors_format.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/core/subprocess.h"
#include "infalign/generation/generate.h"
#include "infalign/model/hf_io.h"
#include "infalign/runtime/device.h"
#include "infalign/tokenizer/load.h"

namespace infalign::reward {

std::vector<double> score_sequences(model::ScalarModel& rm,
                                    const std::vector<std::vector<std::int64_t>>& ids,
                                    std::int64_t pad_id, std::int64_t batch_size,
                                    config::DType dtype) {
  INFALIGN_CHECK(batch_size >= 1, "score_sequences: batch_size must be >= 1");
  at::NoGradGuard no_grad;
  const c10::Device device = rm->parameters().front().device();
  const runtime::AutocastGuard autocast(device, dtype);
  const bool was_training = rm->is_training();
  rm->eval();
  std::vector<double> out;
  out.reserve(ids.size());
  const auto batch = static_cast<std::size_t>(batch_size);
  for (std::size_t s = 0; s < ids.size(); s += batch) {
    const std::vector<std::vector<std::int64_t>> chunk(
        ids.begin() + static_cast<std::ptrdiff_t>(s),
        ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), s + batch)));
    auto [x, mask] = generation::left_pad(chunk, pad_id, device);
    const at::Tensor scores = model::score_at_last_token(
                                  rm->forward({x, mask, model::position_ids_from_mask(mask)}), mask)
                                  .to(at::kDouble)
                                  .cpu()
                                  .contiguous();
    const double* p = scores.data_ptr<double>();
    out.insert(out.end(), p, p + scores.numel());
  }
  if (was_training) rm->train();
  return out;
}

std::vector<std::int64_t> score_input_ids(const ScoreFormat& format,
                                          const std::vector<std::int64_t>& prompt_ids,
                                          const std::vector<std::int64_t>& response_ids) {
  INFALIGN_CHECK(format.limit >= 2, "score_input_ids: limit {} leaves no room for <bos> <eos>",
                 format.limit);
  std::vector<std::int64_t> seq;
  if (format.input == config::RewardInput::Response) {
    seq.push_back(format.bos_id);
  } else {
    seq = prompt_ids;  // starts with <bos>
  }
  seq.insert(seq.end(), response_ids.begin(), response_ids.end());
  if (seq.size() + 1 > format.limit) seq.resize(format.limit - 1);
  seq.push_back(format.eos_id);  // always read at an <eos>, also for responses cut at the limit
  return seq;
}

ModelScorer::ModelScorer(model::ScalarModel model, ScoreFormat format, std::int64_t pad_id,
                         std::int64_t batch_size, std::string hash, OwnTokenizer own,
                         config::DType dtype)
    : model_(std::move(model)),
      format_(format),
      pad_id_(pad_id),
      batch_size_(batch_size),
      hash_(std::move(hash)),
      own_(std::move(own)),
      dtype_(dtype) {}

std::vector<double> ModelScorer::score(const std::vector<ScoredText>& items) {
  std::vector<std::vector<std::int64_t>> ids;
  ids.reserve(items.size());
  for (const auto& item : items) {
    if (own_.tokenizer) {
      const tokenizer::Tokenizer& t = *own_.tokenizer;
      ids.push_back(score_input_ids(
          format_, tokenizer::encode_prompt(t, item.prompt_text, own_.max_prompt_tokens),
          t.encode(item.response_text)));
      continue;
    }
    INFALIGN_CHECK(item.prompt_ids != nullptr, "ModelScorer: item without prompt ids");
    ids.push_back(score_input_ids(format_, *item.prompt_ids, item.response_ids));
  }
  return score_sequences(model_, ids, pad_id_, batch_size_, dtype_);
}

GoldScorer::GoldScorer(VaderScorer judge, std::string hash)
    : judge_(std::move(judge)), hash_(std::move(hash)) {}

std::vector<double> GoldScorer::score(const std::vector<ScoredText>& items) {
  std::vector<double> out;
  out.reserve(items.size());
  for (const auto& item : items) out.push_back(judge_.compound(item.response_text));
  return out;
}

std::vector<ScoredText> scored_texts(const std::vector<const std::vector<std::int64_t>*>& prompts,
                                     const generation::GenerationResult& result,
                                     const tokenizer::Tokenizer& tok, bool decode) {
  auto responses = generation::response_tokens(result, tok.eos_id());
  INFALIGN_CHECK(responses.size() == prompts.size(), "scored_texts: {} prompts for {} rows",
                 prompts.size(), responses.size());
  std::vector<ScoredText> items(responses.size());
  for (std::size_t b = 0; b < items.size(); ++b) {
    items[b].prompt_ids = prompts[b];
    items[b].response_ids = std::move(responses[b]);
    if (decode) {
      items[b].response_text = tok.decode(items[b].response_ids);
      const auto& ids = *prompts[b];
      items[b].prompt_text = tok.decode(std::vector<std::int64_t>(
          ids.begin() + (!ids.empty() && ids[0] == tok.bos_id()), ids.end()));
    }
  }
  return items;
}

std::string model_content_hash(const std::string& dir) {
  try {
    const std::string weights = checkpoint::model_weights_path(dir);
    std::string hashes = fs::sha256_file(dir + "/config.json") + fs::sha256_file(weights);
    if (checkpoint::is_safetensors_index(weights)) {
      // Sharded: the index and every shard it names.
      for (const auto& shard :
           checkpoint::parse_safetensors_index(fs::read_file(weights), weights).shards) {
        hashes += fs::sha256_file(dir + "/" + shard);
      }
    }
    return fs::sha256_hex(hashes);
  } catch (const Error& e) {
    throw CheckpointError(fmt::format("{}: cannot hash the model: {}", dir, e.what()));
  }
}

namespace {

std::string command_hash(const std::string& command) {
  std::string bytes = "command\n" + command;
  std::istringstream words(command);
  for (std::string word; words >> word;) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(word, ec)) bytes += "\n" + fs::sha256_file(word);
  }
  return fs::sha256_hex(bytes);
}

}  // namespace

CommandScorer::CommandScorer(std::string command, double timeout_seconds)
    : command_(std::move(command)),
      timeout_seconds_(timeout_seconds),
      hash_(command_hash(command_)) {}

std::vector<double> CommandScorer::score(const std::vector<ScoredText>& items) {
  if (items.empty()) return {};
  std::string input;
  for (const auto& item : items) {
    nlohmann::json line = {{"prompt", item.prompt_text}, {"response", item.response_text}};
    // Text the tokenizer decoded may hold invalid UTF-8 (a cut multi-byte piece): replaced.
    input += line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    input += '\n';
  }
  const auto what = [&] { return fmt::format("reward.command `{}`", command_); };
  const subprocess::Result r =
      subprocess::run({"/bin/sh", "-c", command_}, input, timeout_seconds_);
  const auto stderr_note = [&] {
    return r.err_tail.empty() ? std::string()
                              : fmt::format("; its stderr ended with:\n{}", r.err_tail);
  };
  if (r.timed_out) {
    throw Error(
        fmt::format("{} did not finish a batch of {} items within {} s "
                    "(reward.command_timeout_seconds) and was killed{}",
                    what(), items.size(), timeout_seconds_, stderr_note()));
  }
  if (!r.succeeded()) {
    throw Error(
        fmt::format("{} {} on a batch of {} items; expected status 0 after printing one "
                    "score a line{}",
                    what(), r.describe(), items.size(), stderr_note()));
  }
  std::vector<double> scores;
  std::istringstream lines(r.out);
  std::size_t line_number = 0;
  for (std::string line; std::getline(lines, line);) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t"), last = line.find_last_not_of(" \t");
    const std::string text = first == std::string::npos ? "" : line.substr(first, last - first + 1);
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
        !std::isfinite(value)) {
      throw Error(
          fmt::format("{}: stdout line {} is \"{}\", expected one finite number a line "
                      "(the score of input line {})",
                      what(), line_number, text.substr(0, 80), line_number));
    }
    scores.push_back(value);
  }
  if (scores.size() != items.size()) {
    throw Error(
        fmt::format("{} printed {} score lines for a batch of {} items; expected one a "
                    "line, in input order{}",
                    what(), scores.size(), items.size(), stderr_note()));
  }
  return scores;
}

std::unique_ptr<RewardScorer> make_scorer(const config::ExperimentConfig& cfg,
                                          const tokenizer::Tokenizer& tok, c10::Device device) {
  if (cfg.reward.kind == config::RewardKind::Command) {
    return std::make_unique<CommandScorer>(cfg.reward.command, cfg.reward.command_timeout_seconds);
  }
  if (cfg.reward.kind == config::RewardKind::Gold) {
    return std::make_unique<GoldScorer>(VaderScorer::load(cfg.reward.lexicon_path),
                                        fs::sha256_file(cfg.reward.lexicon_path));
  }
  const c10::ScalarType frozen =
      cfg.run.frozen_dtype == config::DType::BFloat16 ? at::kBFloat16 : at::kFloat;
  // The dtype the scores are computed in (weights stored in bfloat16 compute in bfloat16). It is
  // part of the scorer's hash, so a calibration cache is used only with the scores it ranks;
  // float32 keeps the plain model hash (caches made before this existed stay valid).
  const config::DType dtype = frozen == at::kBFloat16 ? config::DType::BFloat16 : cfg.reward.dtype;
  const auto with_dtype = [&](std::string hash) {
    return dtype == config::DType::Float32 ? hash : fs::sha256_hex(hash + "\nscored in bfloat16");
  };
  model::ScalarModel rm = model::load_scalar_model(cfg.reward.model_path, {device, frozen});
  rm->eval();
  const auto limit = static_cast<std::size_t>(rm->config().max_position_embeddings);
  const config::RewardInput input = model::read_score_input(cfg.reward.model_path);
  if (!cfg.reward.tokenizer_path.empty()) {
    // The reward model's own tokenizer (SentencePiece or tokenizer.json): it reads the text,
    // encoded again. Padding (masked) uses its pad id, or unk's (or eos's) when it has none.
    std::shared_ptr<tokenizer::Tokenizer> own =
        tokenizer::load_tokenizer(cfg.reward.tokenizer_path, "reward.tokenizer_path");
    const std::int64_t pad = own->pad_id() >= 0   ? own->pad_id()
                             : own->unk_id() >= 0 ? own->unk_id()
                                                  : own->eos_id();
    if (rm->config().vocab_size < own->vocab_size()) {
      throw ConfigError({fmt::format(
          "reward.tokenizer_path: {} has {} pieces but the reward model {} only {} embeddings",
          cfg.reward.tokenizer_path, own->vocab_size(), cfg.reward.model_path,
          rm->config().vocab_size)});
    }
    const ScoreFormat format{own->bos_id(), own->eos_id(), input, limit};
    const std::string hash = fs::sha256_hex(model_content_hash(cfg.reward.model_path) +
                                            fs::sha256_file(cfg.reward.tokenizer_path));
    return std::make_unique<ModelScorer>(
        std::move(rm), format, pad, cfg.reward.batch_size, with_dtype(hash),
        OwnTokenizer{std::move(own), cfg.data.max_prompt_tokens}, dtype);
  }
  const ScoreFormat format{tok.bos_id(), tok.eos_id(), input, limit};
  return std::make_unique<ModelScorer>(std::move(rm), format, tok.pad_id(), cfg.reward.batch_size,
                                       with_dtype(model_content_hash(cfg.reward.model_path)),
                                       OwnTokenizer{}, dtype);
}

}  // namespace infalign::reward
