#include "infalign/reward/scorer.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "infalign/checkpoint/safetensors.h"
#include "infalign/checkpoint/safetensors_format.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/generation/generate.h"
#include "infalign/model/hf_io.h"

namespace infalign::reward {

std::vector<double> score_sequences(model::ScalarModel& rm,
                                    const std::vector<std::vector<std::int64_t>>& ids,
                                    std::int64_t pad_id, std::int64_t batch_size) {
  INFALIGN_CHECK(batch_size >= 1, "score_sequences: batch_size must be >= 1");
  at::NoGradGuard no_grad;
  const c10::Device device = rm->parameters().front().device();
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
                         std::int64_t batch_size, std::string hash)
    : model_(std::move(model)),
      format_(format),
      pad_id_(pad_id),
      batch_size_(batch_size),
      hash_(std::move(hash)) {}

std::vector<double> ModelScorer::score(const std::vector<ScoredText>& items) {
  std::vector<std::vector<std::int64_t>> ids;
  ids.reserve(items.size());
  for (const auto& item : items) {
    INFALIGN_CHECK(item.prompt_ids != nullptr, "ModelScorer: item without prompt ids");
    ids.push_back(score_input_ids(format_, *item.prompt_ids, item.response_ids));
  }
  return score_sequences(model_, ids, pad_id_, batch_size_);
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
    if (decode) items[b].response_text = tok.decode(items[b].response_ids);
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

std::unique_ptr<RewardScorer> make_scorer(const config::ExperimentConfig& cfg,
                                          const tokenizer::Tokenizer& tok, c10::Device device) {
  if (cfg.reward.kind == config::RewardKind::Gold) {
    return std::make_unique<GoldScorer>(VaderScorer::load(cfg.reward.lexicon_path),
                                        fs::sha256_file(cfg.reward.lexicon_path));
  }
  model::ScalarModel rm = model::load_scalar_model(cfg.reward.model_path, {device, at::kFloat});
  rm->eval();
  const ScoreFormat format{tok.bos_id(), tok.eos_id(),
                           model::read_score_input(cfg.reward.model_path),
                           static_cast<std::size_t>(rm->config().max_position_embeddings)};
  return std::make_unique<ModelScorer>(std::move(rm), format, tok.pad_id(), cfg.reward.batch_size,
                                       model_content_hash(cfg.reward.model_path));
}

}  // namespace infalign::reward
