#include "infalign/train/lm_trainer.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <ATen/ATen.h>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/core/logging.h"
#include "infalign/core/progress.h"
#include "infalign/core/timer.h"
#include "infalign/data/text_corpus.h"
#include "infalign/generation/generate.h"
#include "infalign/model/hf_io.h"
#include "infalign/runtime/device.h"
#include "infalign/runtime/distributed.h"
#include "infalign/runtime/rng.h"
#include "infalign/tokenizer/load.h"
#include "infalign/tokenizer/sentencepiece_tokenizer.h"
#include "infalign/train/loop.h"

namespace infalign::train {

namespace {

namespace stdfs = std::filesystem;

// The corpus as one token stream: <bos> record <eos> <bos> record <eos> ...
std::vector<std::int64_t> token_stream(const std::vector<std::string>& records,
                                       const tokenizer::Tokenizer& tok) {
  std::vector<std::int64_t> stream;
  for (const auto& r : records) {
    stream.push_back(tok.bos_id());
    const auto ids = tok.encode(r);
    stream.insert(stream.end(), ids.begin(), ids.end());
    stream.push_back(tok.eos_id());
  }
  return stream;
}

// Chunk i is tokens [i * L, i * L + L + 1): L inputs and their L next-token targets.
struct Chunks {
  const std::vector<std::int64_t>* stream;
  std::int64_t length;
  std::int64_t count() const {
    return std::max<std::int64_t>(0, (static_cast<std::int64_t>(stream->size()) - 1) / length);
  }
  // [B, L + 1] int64 for the given chunk indices.
  at::Tensor batch(const std::vector<std::int64_t>& indices) const {
    at::Tensor out = at::empty({static_cast<std::int64_t>(indices.size()), length + 1}, at::kLong);
    for (std::size_t b = 0; b < indices.size(); ++b) {
      std::memcpy(out[static_cast<std::int64_t>(b)].data_ptr<std::int64_t>(),
                  stream->data() + indices[b] * length, sizeof(std::int64_t) * (length + 1));
    }
    return out;
  }
};

// Mean next-token cross-entropy of `chunk_batch` [B, L + 1]; the forward under run.dtype's
// autocast, the loss in float32.
at::Tensor lm_loss(model::CausalLm& lm, const at::Tensor& chunk_batch, c10::Device device,
                   config::DType dtype) {
  const auto B = chunk_batch.size(0), L = chunk_batch.size(1) - 1;
  const at::Tensor tokens = chunk_batch.to(device);
  const at::Tensor inputs = tokens.narrow(1, 0, L);
  const at::Tensor targets = tokens.narrow(1, 1, L);
  const at::Tensor mask = at::ones({B, L}, at::TensorOptions().dtype(at::kLong).device(device));
  at::Tensor logits;
  {
    const runtime::AutocastGuard autocast(device, dtype);
    logits = lm->forward({inputs, mask, model::position_ids_from_mask(mask)});
  }
  return at::cross_entropy_loss(logits.to(at::kFloat).reshape({B * L, -1}),
                                targets.reshape({B * L}));
}

}  // namespace

LmResult train_lm(const config::LoadedConfig& loaded, runtime::Distributed* dist) {
  const bool parallel = dist != nullptr && dist->active();
  const int world = parallel ? dist->world_size() : 1;
  const int rank = parallel ? dist->rank() : 0;
  const bool main_rank = rank == 0;
  const config::ExperimentConfig& cfg = loaded.config;
  const config::TrainConfig& t = cfg.train;
  const c10::Device device = runtime::resolve_device(cfg.run.device);
  const std::string run_dir = cfg.run.run_dir;
  const std::string output_dir = model_output_dir(cfg);

  auto tok = tokenizer::load_configured_tokenizer(loaded);
  const auto train_records = data::read_records(cfg.data.train_file);
  const auto valid_records = data::read_records(cfg.data.valid_file);
  const std::vector<std::int64_t> train_stream = token_stream(train_records, *tok);
  const std::vector<std::int64_t> valid_stream = token_stream(valid_records, *tok);
  const Chunks train_chunks{&train_stream, cfg.data.seq_len};
  const Chunks valid_chunks{&valid_stream, cfg.data.seq_len};
  if (train_chunks.count() < t.batch_size || valid_chunks.count() < 1) {
    throw DataError(
        fmt::format("{} / {}: {} training and {} validation chunks of {} tokens; "
                    "expected at least train.batch_size ({}) and 1",
                    cfg.data.train_file, cfg.data.valid_file, train_chunks.count(),
                    valid_chunks.count(), cfg.data.seq_len, t.batch_size));
  }
  log::info("[data] {} train records -> {} tokens ({} chunks of {}), {} valid records -> {} tokens",
            train_records.size(), train_stream.size(), train_chunks.count(), cfg.data.seq_len,
            valid_records.size(), valid_stream.size());

  runtime::RngSet rngs(cfg.run.seed);
  model::CausalLm lm{nullptr};
  if (!cfg.model.init_from.empty()) {
    lm = model::load_causal_lm(cfg.model.init_from, {device, at::kFloat});
    log::info("[run] starting from {}", cfg.model.init_from);
  } else {
    lm = model::CausalLm(model::llama_config_from(cfg.model, cfg.tokenizer));
    model::init_weights(*lm, rngs.get("init"));
    lm->to(device);
  }
  lm->backbone()->set_gradient_checkpointing(cfg.train.gradient_checkpointing);
  if (tok->vocab_size() > lm->config().vocab_size) {
    throw ConfigError(
        {fmt::format("model.vocab_size: got {}, but {} has {} pieces", lm->config().vocab_size,
                     cfg.tokenizer.path, tok->vocab_size())});
  }
  std::int64_t n_params = 0;
  for (const auto& p : lm->parameters()) n_params += p.numel();
  log::info("[run] causal LM: {} parameters ({} layers, hidden {}, vocab {})", n_params,
            lm->config().num_hidden_layers, lm->config().hidden_size, lm->config().vocab_size);
  if (t.total_steps == 0) {
    // A model of the configured shape as initialised, untrained (no optimizer state is made):
    // a stand-in for a real checkpoint of that size (docs/memory.md).
    LmResult result;
    result.model_dir = output_dir;
    auto save = [&] {
      model::save_causal_lm(lm, output_dir, cfg.tokenizer.path, at::kFloat,
                            static_cast<std::uint64_t>(cfg.checkpoint.max_shard_bytes));
      log::info("[lm] done: train.total_steps 0, the initialised model written to {}", output_dir);
    };
    runtime::main_only(dist, "writing the initialised model", save);
    return result;
  }

  if (t.batch_size % world != 0) {
    throw ConfigError(
        {fmt::format("train.batch_size: got {}, expected a multiple of the {} "
                     "processes (WORLD_SIZE) that share each batch",
                     t.batch_size, world)});
  }
  SupervisedLoop loop(loaded, *lm, rngs, train_chunks.count(), dist);

  // Fixed validation batches (in order), and the unigram baseline on the same targets.
  const std::int64_t valid_batches = std::min<std::int64_t>(
      t.eval_batches, (valid_chunks.count() + t.batch_size - 1) / t.batch_size);
  auto validation_loss = [&]() {
    at::NoGradGuard no_grad;
    double sum = 0;
    std::int64_t n = 0;
    for (std::int64_t b = 0; b < valid_batches; ++b) {
      std::vector<std::int64_t> idx;
      for (std::int64_t i = b * t.batch_size;
           i < std::min(valid_chunks.count(), (b + 1) * t.batch_size); ++i)
        idx.push_back(i);
      if (idx.empty()) break;
      sum += lm_loss(lm, valid_chunks.batch(idx), device, cfg.run.dtype).item<double>() *
             static_cast<double>(idx.size());
      n += static_cast<std::int64_t>(idx.size());
    }
    return sum / static_cast<double>(n);
  };
  double unigram_ppl = 0;
  {
    std::vector<double> counts(static_cast<std::size_t>(lm->config().vocab_size), 1.0);  // add-one
    for (auto id : train_stream) counts[static_cast<std::size_t>(id)] += 1.0;
    double total = 0;
    for (double c : counts) total += c;
    double nll = 0;
    std::int64_t n = 0;
    const std::int64_t covered = std::min(valid_chunks.count(), valid_batches * t.batch_size);
    for (std::int64_t i = 0; i < covered; ++i) {
      for (std::int64_t k = 1; k <= cfg.data.seq_len; ++k) {
        nll -= std::log(counts[static_cast<std::size_t>(
                            valid_stream[static_cast<std::size_t>(i * cfg.data.seq_len + k)])] /
                        total);
        ++n;
      }
    }
    unigram_ppl = std::exp(nll / static_cast<double>(n));
  }

  // Prompts for sample printing: the first words of a few validation records.
  std::vector<std::vector<std::int64_t>> sample_prompts;
  for (std::size_t i = 0; i < valid_records.size() && sample_prompts.size() < 3; ++i) {
    const auto words = data::words_of(valid_records[i]);
    if (words.size() < 6) continue;
    std::string text;
    std::size_t count = 0, pos = 0;
    while (count < 4 && pos < valid_records[i].size()) {  // first 4 space-separated words
      const auto next = valid_records[i].find(' ', pos);
      text = valid_records[i].substr(0, next == std::string::npos ? valid_records[i].size() : next);
      pos = next == std::string::npos ? valid_records[i].size() : next + 1;
      ++count;
    }
    std::vector<std::int64_t> ids = {tok->bos_id()};
    const auto enc = tok->encode(text);
    ids.insert(ids.end(), enc.begin(), enc.end());
    sample_prompts.push_back(std::move(ids));
  }
  auto samples = [&]() {
    std::vector<std::string> out;
    if (sample_prompts.empty()) return out;
    generation::GenerationOptions g;
    g.max_new_tokens = std::min<std::int64_t>(cfg.generation.max_new_tokens,
                                              lm->config().max_position_embeddings - 16);
    g.sampling.temperature = cfg.generation.temperature;
    g.eos_id = tok->eos_id();
    g.pad_id = tok->pad_id();
    const auto r = generation::generate(lm, sample_prompts, g, rngs.get("samples"));
    for (std::size_t b = 0; b < sample_prompts.size(); ++b) {
      std::vector<std::int64_t> ids(sample_prompts[b].begin() + 1, sample_prompts[b].end());
      const auto row = r.response_ids[static_cast<std::int64_t>(b)];
      for (std::int64_t k = 0;
           k < r.response_lengths[static_cast<std::int64_t>(b)].item<std::int64_t>(); ++k) {
        ids.push_back(row[k].item<std::int64_t>());
      }
      out.push_back(tok->decode(ids));
    }
    return out;
  };

  Progress progress(t.total_steps, {"lm", "step", cfg.logging.progress_interval_seconds,
                                    std::nullopt, loop.step()});
  double last_valid = std::nan("");
  lm->train();
  while (!loop.done()) {
    loop.check_stop();
    Timer step_timer;
    const double lr = loop.learning_rate();
    double loss_sum = 0;
    for (std::int64_t micro = 0; micro < t.grad_accum_steps; ++micro) {
      std::vector<std::int64_t> idx;
      while (static_cast<std::int64_t>(idx.size()) < t.batch_size)
        idx.push_back(loop.next_example());
      // This rank's equal share of the batch: the mean of the ranks' losses is the batch's.
      const std::int64_t share = t.batch_size / world;
      idx = std::vector<std::int64_t>(idx.begin() + rank * share, idx.begin() + (rank + 1) * share);
      const at::Tensor loss = lm_loss(lm, train_chunks.batch(idx), device, cfg.run.dtype);
      (loss / static_cast<double>(t.grad_accum_steps * world)).backward();
      loss_sum += loss.item<double>() / world;
      loop.state().tokens_seen += t.batch_size * cfg.data.seq_len;
    }
    const double grad_norm = loop.finish_step(lr);
    if (parallel) {
      std::vector<at::Tensor> sum{at::full({1}, loss_sum, at::kDouble)};
      dist->all_reduce_sum(sum);
      loss_sum = sum[0].item<double>();
    }
    const double loss = loss_sum / static_cast<double>(t.grad_accum_steps);
    if (!std::isfinite(loss)) {
      throw Error(fmt::format("[lm] loss is {} at step {}; lower train.lr", loss, loop.step()));
    }
    const double tokens_per_s =
        static_cast<double>(t.batch_size * t.grad_accum_steps * cfg.data.seq_len) /
        step_timer.seconds();
    MetricValues values = {{"train/loss", loss},
                           {"train/lr", lr},
                           {"train/grad_norm", grad_norm},
                           {"perf/tokens_per_s", tokens_per_s}};
    const bool evaluate = loop.eval_due();
    if (evaluate && main_rank) {
      lm->eval();
      last_valid = validation_loss();
      lm->train();
      values.emplace_back("val/loss", last_valid);
      values.emplace_back("val/ppl", std::exp(last_valid));
      log::info("[lm] step {}: validation loss {:.4f}, perplexity {:.2f} (unigram baseline {:.2f})",
                loop.step(), last_valid, std::exp(last_valid), unigram_ppl);
    }
    if (main_rank && t.sample_every_steps > 0 && loop.step() % t.sample_every_steps == 0 &&
        !loop.last_step()) {
      for (const auto& s : samples()) log::info("[lm] sample: {}", s);
    }
    progress.update(loop.step(),
                    {{"loss", fmt::format("{:.3f}", loss)}, {"lr", fmt::format("{:.2e}", lr)}});
    loop.end_step(values, evaluate);
  }
  progress.finish();

  LmResult result;
  result.model_dir = output_dir;
  result.steps = loop.step();
  // Rank 0 validates, samples and writes; the others wait for the export.
  auto finish = [&] {
    if (std::isnan(last_valid)) last_valid = validation_loss();
    result.valid_loss = last_valid;
    result.valid_perplexity = std::exp(last_valid);
    result.unigram_perplexity = unigram_ppl;
    lm->eval();
    result.samples = samples();
    model::save_causal_lm(lm, output_dir, cfg.tokenizer.path, at::kFloat,
                          static_cast<std::uint64_t>(cfg.checkpoint.max_shard_bytes));
    nlohmann::ordered_json report;
    report["stage"] = "lm";
    report["steps"] = result.steps;
    report["parameters"] = n_params;
    report["train_records"] = train_records.size();
    report["train_tokens"] = train_stream.size();
    report["valid_records"] = valid_records.size();
    report["valid_tokens"] = valid_stream.size();
    report["valid_loss"] = result.valid_loss;
    report["valid_perplexity"] = result.valid_perplexity;
    report["unigram_perplexity"] = result.unigram_perplexity;
    report["samples"] = result.samples;
    report["model_dir"] = output_dir;
    report["wall_seconds"] = loop.state().wall_seconds;
    fs::write_file_atomic(run_dir + "/lm_report.json", report.dump(2) + "\n");
    log::info("[lm] done: {} steps, validation perplexity {:.2f} vs unigram {:.2f}; model in {}",
              result.steps, result.valid_perplexity, unigram_ppl, output_dir);
    for (const auto& s : result.samples) log::info("[lm] sample: {}", s);
  };
  runtime::main_only(dist, "the final validation and export", finish);
  return result;
}

}  // namespace infalign::train
