#include "infalign/train/reward_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <numeric>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <ATen/ATen.h>

#include "infalign/config/names.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/core/logging.h"
#include "infalign/core/progress.h"
#include "infalign/core/strings.h"
#include "infalign/core/timer.h"
#include "infalign/data/preferences.h"
#include "infalign/data/prepare.h"
#include "infalign/data/text_corpus.h"
#include "infalign/generation/generate.h"
#include "infalign/model/hf_io.h"
#include "infalign/reward/scorer.h"
#include "infalign/reward/vader.h"
#include "infalign/runtime/device.h"
#include "infalign/runtime/distributed.h"
#include "infalign/runtime/rng.h"
#include "infalign/tokenizer/load.h"
#include "infalign/tokenizer/sentencepiece_tokenizer.h"
#include "infalign/train/loop.h"

namespace infalign::train {

namespace {

// One base-policy continuation: its token ids as the RM reads them (reward::score_input_ids), its
// text and its gold score.
struct Sample {
  std::vector<std::int64_t> ids;  // <bos> [prompt] response <eos>
  std::string prompt, response;
  double gold = 0;
};

// Samples `per_prompt` continuations of each prompt with the base policy, in batches.
std::vector<Sample> sample_continuations(model::CausalLm& policy, const tokenizer::Tokenizer& tok,
                                         const reward::VaderScorer& gold,
                                         const std::vector<std::string>& prompts,
                                         std::int64_t per_prompt,
                                         const config::ExperimentConfig& cfg, at::Generator gen,
                                         const std::string& what) {
  std::vector<Sample> samples;
  std::vector<std::vector<std::int64_t>> encoded;
  for (const auto& p : prompts) {
    const std::vector<std::int64_t> ids =
        tokenizer::encode_prompt(tok, p, cfg.data.max_prompt_tokens);
    for (std::int64_t k = 0; k < per_prompt; ++k) {
      encoded.push_back(ids);
      samples.push_back({{}, p, "", 0});
    }
  }
  const generation::GenerationOptions g =
      generation::options_from_config(cfg.generation, tok.eos_id(), tok.pad_id());
  generation::SamplingModel sampler(policy, cfg.generation.dtype);
  const reward::ScoreFormat format{
      tok.bos_id(), tok.eos_id(), cfg.reward.input,
      static_cast<std::size_t>(policy->config().max_position_embeddings)};
  const auto batch = static_cast<std::size_t>(cfg.generation.batch_size);
  Progress progress(static_cast<std::int64_t>(encoded.size()),
                    {"reward", "sample", cfg.logging.progress_interval_seconds, std::nullopt});
  for (std::size_t start = 0; start < encoded.size(); start += batch) {
    const std::size_t end = std::min(encoded.size(), start + batch);
    const std::vector<std::vector<std::int64_t>> chunk(
        encoded.begin() + static_cast<std::ptrdiff_t>(start),
        encoded.begin() + static_cast<std::ptrdiff_t>(end));
    const auto r = generation::generate(sampler.get(), chunk, g, gen);
    const auto responses = generation::response_tokens(r, tok.eos_id());
    for (std::size_t b = 0; b < chunk.size(); ++b) {
      Sample& s = samples[start + b];
      const std::vector<std::int64_t>& response = responses[b];
      // Read at an EOS, also for responses cut at max_new_tokens, so the read-out position
      // means the same thing in every sequence (and what calibration, PPO and eval score).
      s.ids = reward::score_input_ids(format, chunk[b], response);
      s.response = tok.decode(response);
      s.gold = gold.compound(s.response);
    }
    progress.update(static_cast<std::int64_t>(end));
  }
  progress.finish();
  log::info("[reward] sampled {} {} continuations", samples.size(), what);
  return samples;
}

}  // namespace

RewardResult train_reward_model(const config::LoadedConfig& loaded, runtime::Distributed* dist) {
  const bool parallel = dist != nullptr && dist->active();
  const int world = parallel ? dist->world_size() : 1;
  const int rank = parallel ? dist->rank() : 0;
  const config::ExperimentConfig& cfg = loaded.config;
  const config::TrainConfig& t = cfg.train;
  const c10::Device device = runtime::resolve_device(cfg.run.device);
  const std::string run_dir = cfg.run.run_dir;
  const std::string output_dir = model_output_dir(cfg);
  auto tok = tokenizer::load_configured_tokenizer(loaded);
  runtime::RngSet rngs(cfg.run.seed);
  const bool user_pairs = !cfg.reward.preferences_file.empty();
  const std::int64_t per_prompt = user_pairs ? 2 : cfg.reward.samples_per_prompt;
  std::vector<Sample> train_samples, valid_samples;
  data::PreferenceGroups train_groups, valid_groups;
  if (user_pairs) {
    // The user's pairs: each one a group of two samples (chosen, rejected), P(chosen) = 1; a
    // seeded hash of the pair's text holds out preferences_valid_fraction of them.
    const model::LlamaConfig base = model::read_model_config(cfg.model.init_from);
    const reward::ScoreFormat format{tok->bos_id(), tok->eos_id(), cfg.reward.input,
                                     static_cast<std::size_t>(base.max_position_embeddings)};
    const std::string salt = fmt::format("preferences_valid:{}", cfg.run.seed);
    for (const auto& pair : data::read_preference_pairs(cfg.reward.preferences_file)) {
      const bool held_out =
          data::stable_fraction(salt, pair.prompt + '\0' + pair.chosen + '\0' + pair.rejected) <
          cfg.reward.preferences_valid_fraction;
      std::vector<Sample>& samples = held_out ? valid_samples : train_samples;
      const auto prompt_ids =
          tokenizer::encode_prompt(*tok, pair.prompt, cfg.data.max_prompt_tokens);
      for (const std::string* response : {&pair.chosen, &pair.rejected}) {
        samples.push_back({reward::score_input_ids(format, prompt_ids, tok->encode(*response)),
                           pair.prompt, *response, 0.0});
      }
    }
    train_groups = data::pair_groups(train_samples.size() / 2);
    valid_groups = data::pair_groups(valid_samples.size() / 2);
    log::info("[reward] {}: {} training pairs, {} held out", cfg.reward.preferences_file,
              train_groups.pairs.size(), valid_groups.pairs.size());
  } else {
    const reward::VaderScorer gold = reward::VaderScorer::load(cfg.reward.lexicon_path);
    // Prompts: first words of training records for training pairs; the calibration prompt set
    // (from the validation split) for held-out pairs.
    std::vector<std::string> train_prompts;
    for (const auto& record : data::read_records(cfg.data.train_file)) {
      if (static_cast<std::int64_t>(train_prompts.size()) == cfg.reward.train_prompts) break;
      std::string p = data::make_prompt(record, 4, 8, cfg.run.seed);
      if (!p.empty()) train_prompts.push_back(std::move(p));
    }
    const std::vector<std::string> valid_prompts =
        data::read_prompts(cfg.data.train_prompts_file, cfg.data.prompt_field);
    {
      model::CausalLm policy = model::load_causal_lm(cfg.model.init_from, {device, at::kFloat});
      policy->eval();
      train_samples = sample_continuations(policy, *tok, gold, train_prompts, per_prompt, cfg,
                                           rngs.get("pairs"), "training");
      valid_samples = sample_continuations(policy, *tok, gold, valid_prompts, per_prompt, cfg,
                                           rngs.get("pairs_valid"), "held-out");
    }
    auto label = [&](const std::vector<Sample>& samples, const char* stream, bool drop_ties) {
      std::vector<double> golds;
      for (const auto& s : samples) golds.push_back(s.gold);
      return data::label_preferences(
          golds, {per_prompt, cfg.reward.prompts_per_group, cfg.reward.label_temperature, drop_ties,
                  runtime::RngSet::derive_seed(cfg.run.seed, stream)});
    };
    train_groups = label(train_samples, "labels", cfg.reward.drop_ties);
    // Held-out pairs never include ties: their label is a coin flip that no scorer can predict,
    // so the accuracy is over the pairs whose gold scores differ, whatever training used.
    valid_groups = label(valid_samples, "labels_valid", /*drop_ties=*/true);
  }
  // Training visits comparison groups that hold at least one labelled pair.
  std::vector<std::size_t> trainable;
  for (std::size_t g = 0; g < train_groups.groups(); ++g) {
    if (train_groups.offsets[g + 1] > train_groups.offsets[g]) trainable.push_back(g);
  }
  if (static_cast<std::int64_t>(trainable.size()) < cfg.train.batch_size ||
      valid_groups.pairs.empty()) {
    if (user_pairs) {
      throw DataError(fmt::format(
          "{}: {} training pairs and {} held-out pairs; expected at least train.batch_size ({}) "
          "training pairs and 1 held-out pair: add pairs or change "
          "reward.preferences_valid_fraction ({})",
          cfg.reward.preferences_file, trainable.size(), valid_groups.pairs.size(),
          cfg.train.batch_size, cfg.reward.preferences_valid_fraction));
    }
    throw DataError(fmt::format(
        "{} / {}: only {} training comparison groups and {} held-out pairs carry a preference "
        "(gold scores differ); expected at least train.batch_size ({}) groups and 1 pair: use "
        "more prompts (reward.train_prompts, reward.samples_per_prompt) or check "
        "reward.lexicon_path",
        cfg.data.train_file, cfg.data.train_prompts_file, trainable.size(),
        valid_groups.pairs.size(), cfg.train.batch_size));
  }
  if (rank == 0) {
    // Streamed in blocks of about 1 MiB: the default experiment's file is over 200 MB.
    fs::create_directories(run_dir);
    fs::AtomicFileWriter out(run_dir + "/preference_pairs.tsv");
    std::ostringstream tsv;
    tsv << "split\tchosen_prompt\tchosen\trejected_prompt\trejected\tgold_chosen\tgold_rejected"
           "\tp_chosen\n";
    auto flush = [&] {
      out.write(tsv.str());
      tsv.str("");
    };
    auto write = [&](const char* split, const std::vector<Sample>& s,
                     const data::PreferenceGroups& groups) {
      for (const auto& p : groups.pairs) {
        const Sample &c = s[p.chosen], &r = s[p.rejected];
        tsv << split << '\t' << strings::tsv_field(c.prompt) << '\t'
            << strings::tsv_field(c.response) << '\t' << strings::tsv_field(r.prompt) << '\t'
            << strings::tsv_field(r.response) << '\t' << c.gold << '\t' << r.gold << '\t'
            << p.p_chosen << '\n';
        if (tsv.tellp() > (1 << 20)) flush();
      }
    };
    write("train", train_samples, train_groups);
    write("valid", valid_samples, valid_groups);
    flush();
    out.commit();
  }

  model::ScalarModel rm = model::load_scalar_model(cfg.model.init_from, {device, at::kFloat},
                                                   /*allow_fresh_head=*/true);
  rm->backbone()->set_gradient_checkpointing(cfg.train.gradient_checkpointing);
  {
    at::NoGradGuard no_grad;
    rm->named_parameters()["score.weight"].zero_();  // every pair starts at P = 1/2
  }
  if (t.batch_size % world != 0) {
    throw ConfigError(
        {fmt::format("train.batch_size: got {}, expected a multiple of the {} "
                     "processes (WORLD_SIZE) that share each batch",
                     t.batch_size, world)});
  }
  SupervisedLoop loop(loaded, *rm, rngs, static_cast<std::int64_t>(trainable.size()), dist);

  // Held-out accuracies: pairs of one prompt (the usual meaning) and pairs across prompts.
  struct Eval {
    double accuracy = 0, gold_accuracy = 0, cross_accuracy = 0;
    std::vector<double> scores;
  };
  auto evaluate = [&]() {
    std::vector<std::vector<std::int64_t>> ids;
    for (const auto& s : valid_samples) ids.push_back(s.ids);
    Eval e;
    e.scores =
        reward::score_sequences(rm, ids, tok->pad_id(), cfg.reward.batch_size, cfg.reward.dtype);
    double hits[2] = {0, 0}, counts[2] = {0, 0}, gold_hits = 0, gold_pairs = 0;
    for (const auto& p : valid_groups.pairs) {
      const double c = e.scores[p.chosen], r = e.scores[p.rejected];
      const int k = p.same_prompt ? 0 : 1;
      hits[k] += c > r ? 1.0 : c == r ? 0.5 : 0.0;
      counts[k] += 1;
      const double dg = valid_samples[p.chosen].gold - valid_samples[p.rejected].gold;
      if (p.same_prompt && dg != 0) {
        gold_pairs += 1;
        gold_hits += (dg > 0) == (c > r) ? 1.0 : 0.0;
      }
    }
    e.accuracy = counts[0] > 0 ? hits[0] / counts[0] : 0.0;
    e.cross_accuracy = counts[1] > 0 ? hits[1] / counts[1] : 0.0;
    e.gold_accuracy = gold_pairs > 0 ? gold_hits / gold_pairs : 0.0;
    return e;
  };

  Progress progress(t.total_steps, {"reward", "step", cfg.logging.progress_interval_seconds,
                                    std::nullopt, loop.step()});
  rm->train();
  while (!loop.done()) {
    loop.check_stop();
    const double lr = loop.learning_rate();
    double loss_sum = 0, acc_sum = 0;
    for (std::int64_t micro = 0; micro < t.grad_accum_steps; ++micro) {
      // A micro-batch: batch_size comparison groups; every sequence is scored once and every
      // labelled pair of its group contributes -log sigmoid(r_chosen - r_rejected).
      // With several processes this rank scores its share of the groups; the loss is its pairs'
      // share of the whole micro-batch's mean.
      std::vector<std::vector<std::int64_t>> seqs;
      std::vector<std::int64_t> chosen, rejected;
      std::int64_t all_pairs = 0, longest = 0;
      const std::int64_t share = t.batch_size / world;
      for (std::int64_t b = 0; b < t.batch_size; ++b) {
        const std::size_t g = trainable[static_cast<std::size_t>(loop.next_example())];
        all_pairs +=
            static_cast<std::int64_t>(train_groups.offsets[g + 1] - train_groups.offsets[g]);
        for (std::size_t i = g * train_groups.group_size;
             i < std::min(train_samples.size(), (g + 1) * train_groups.group_size); ++i) {
          longest = std::max(longest, static_cast<std::int64_t>(train_samples[i].ids.size()));
        }
        if (b / share != rank) continue;
        const std::size_t first = g * train_groups.group_size;
        const auto offset = static_cast<std::int64_t>(seqs.size());
        for (std::size_t i = first;
             i < std::min(train_samples.size(), first + train_groups.group_size); ++i) {
          seqs.push_back(train_samples[i].ids);
        }
        for (std::size_t q = train_groups.offsets[g]; q < train_groups.offsets[g + 1]; ++q) {
          const data::PreferencePair& p = train_groups.pairs[q];
          chosen.push_back(offset + static_cast<std::int64_t>(p.chosen - first));
          rejected.push_back(offset + static_cast<std::int64_t>(p.rejected - first));
        }
      }
      // Padded as the whole micro-batch is, so each rank's numerics match one process's.
      auto [x, mask] = generation::left_pad(seqs, tok->pad_id(), device, longest);
      at::Tensor scores;
      {
        const runtime::AutocastGuard autocast(device, cfg.run.dtype);
        scores = model::score_at_last_token(
            rm->forward({x, mask, model::position_ids_from_mask(mask)}), mask);
      }
      scores = scores.to(at::kFloat);
      auto index = [&](const std::vector<std::int64_t>& v) {
        return at::tensor(v, at::TensorOptions(at::kLong)).to(device);
      };
      const at::Tensor margin =
          scores.index_select(0, index(chosen)) - scores.index_select(0, index(rejected));
      const double n_all = static_cast<double>(all_pairs);
      const at::Tensor loss = -at::log_sigmoid(margin).sum() / n_all;  // Bradley-Terry, mean
      (loss / static_cast<double>(t.grad_accum_steps)).backward();
      loss_sum += loss.item<double>();
      acc_sum += (margin > 0).to(at::kDouble).sum().item<double>() / n_all;
    }
    const double grad_norm = loop.finish_step(lr);
    if (parallel) {
      std::vector<at::Tensor> sums{at::tensor(std::vector<double>{loss_sum, acc_sum}, at::kDouble)};
      dist->all_reduce_sum(sums);
      loss_sum = sums[0][0].item<double>();
      acc_sum = sums[0][1].item<double>();
    }
    const double loss = loss_sum / static_cast<double>(t.grad_accum_steps);
    if (!std::isfinite(loss)) {
      throw Error(fmt::format("[reward] loss is {} at step {}; lower train.lr", loss, loop.step()));
    }
    MetricValues values = {{"train/loss", loss},
                           {"train/accuracy", acc_sum / static_cast<double>(t.grad_accum_steps)},
                           {"train/lr", lr},
                           {"train/grad_norm", grad_norm}};
    const bool evaluate_now = loop.eval_due() && rank == 0;
    if (evaluate_now) {
      const Eval e = evaluate();
      values.emplace_back("val/accuracy", e.accuracy);
      if (user_pairs) {
        log::info("[reward] step {}: held-out pairwise accuracy {:.3f}", loop.step(), e.accuracy);
      } else {
        values.emplace_back("val/gold_accuracy", e.gold_accuracy);
        values.emplace_back("val/cross_prompt_accuracy", e.cross_accuracy);
        log::info(
            "[reward] step {}: held-out pairwise accuracy {:.3f} (vs gold order {:.3f}; pairs "
            "across prompts {:.3f})",
            loop.step(), e.accuracy, e.gold_accuracy, e.cross_accuracy);
      }
    }
    progress.update(loop.step(), {{"loss", fmt::format("{:.3f}", loss)}});
    loop.end_step(values, evaluate_now);
  }
  progress.finish();

  RewardResult result;
  result.model_dir = output_dir;
  // Rank 0 evaluates and writes; the others wait for the export.
  auto finish = [&] {
    result.train_pairs = static_cast<std::int64_t>(train_groups.pairs.size());
    result.valid_pairs = static_cast<std::int64_t>(valid_groups.pairs.size());
    const Eval final_eval = evaluate();
    const std::vector<double>& scores = final_eval.scores;
    result.valid_accuracy = final_eval.accuracy;
    result.valid_gold_accuracy = final_eval.gold_accuracy;
    result.valid_cross_prompt_accuracy = final_eval.cross_accuracy;
    std::vector<double> golds;
    for (const auto& s : valid_samples) golds.push_back(s.gold);
    result.spearman = data::spearman(scores, golds);
    {
      // The held-out samples with both scores, for inspection (what the RM gets wrong).
      std::ostringstream tsv;
      tsv << "prompt\tresponse\tgold\treward_model\n";
      for (std::size_t i = 0; i < valid_samples.size(); ++i) {
        tsv << strings::tsv_field(valid_samples[i].prompt) << '\t'
            << strings::tsv_field(valid_samples[i].response) << '\t' << valid_samples[i].gold
            << '\t' << scores[i] << '\n';
      }
      fs::write_file_atomic(run_dir + "/valid_scores.tsv", tsv.str());
    }
    // Within one prompt (what calibration and PPO compare): mean Spearman over prompts whose
    // samples' gold scores are not all equal.
    {
      const auto k = static_cast<std::size_t>(per_prompt);
      double sum = 0, n = 0;
      for (std::size_t first = 0; k > 1 && first + k <= scores.size(); first += k) {
        const std::vector<double> s(scores.begin() + static_cast<std::ptrdiff_t>(first),
                                    scores.begin() + static_cast<std::ptrdiff_t>(first + k));
        const std::vector<double> g(golds.begin() + static_cast<std::ptrdiff_t>(first),
                                    golds.begin() + static_cast<std::ptrdiff_t>(first + k));
        if (std::adjacent_find(g.begin(), g.end(), std::not_equal_to<>()) == g.end()) continue;
        sum += data::spearman(s, g);
        n += 1;
      }
      result.spearman_within_prompt = n > 0 ? sum / n : 0.0;
    }
    // External check: the UCI human-labelled sentences, each scored as <bos> sentence.
    const std::string uci_path =
        std::filesystem::path(cfg.data.train_file).parent_path().string() + "/uci_sentences.tsv";
    nlohmann::ordered_json report;
    if (!user_pairs && std::filesystem::exists(uci_path)) {
      // A sentence alone: <bos> sentence <eos>, as a response without its prompt.
      const reward::ScoreFormat uci_format{
          tok->bos_id(), tok->eos_id(), config::RewardInput::Response,
          static_cast<std::size_t>(rm->config().max_position_embeddings)};
      std::vector<std::vector<std::int64_t>> ids;
      std::vector<int> labels;
      std::istringstream in(fs::read_file(uci_path));
      for (std::string line; std::getline(in, line);) {
        const auto a = line.find('\t'), b = line.find('\t', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        ids.push_back(reward::score_input_ids(uci_format, {}, tok->encode(line.substr(b + 1))));
        labels.push_back(line[0] == '1' ? 1 : 0);
      }
      const auto uci_scores =
          reward::score_sequences(rm, ids, tok->pad_id(), cfg.reward.batch_size, cfg.reward.dtype);
      std::vector<double> sorted = uci_scores;
      std::nth_element(sorted.begin(),
                       sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2),
                       sorted.end());
      const double median = sorted[sorted.size() / 2];
      double hits = 0, pos = 0, neg = 0;
      std::vector<double> pos_scores, neg_scores;
      for (std::size_t i = 0; i < uci_scores.size(); ++i) {
        hits += (uci_scores[i] > median) == (labels[i] == 1) ? 1.0 : 0.0;
        (labels[i] == 1 ? pos_scores : neg_scores).push_back(uci_scores[i]);
      }
      std::sort(neg_scores.begin(), neg_scores.end());
      double wins = 0;
      for (double s : pos_scores) {
        const auto lo =
            std::lower_bound(neg_scores.begin(), neg_scores.end(), s) - neg_scores.begin();
        const auto hi =
            std::upper_bound(neg_scores.begin(), neg_scores.end(), s) - neg_scores.begin();
        wins += static_cast<double>(lo) + 0.5 * static_cast<double>(hi - lo);
      }
      pos = static_cast<double>(pos_scores.size());
      neg = static_cast<double>(neg_scores.size());
      result.uci_accuracy = hits / static_cast<double>(uci_scores.size());
      result.uci_auc = pos > 0 && neg > 0 ? wins / (pos * neg) : 0.0;
      report["uci_sentences"] = uci_scores.size();
    }
    model::save_scalar_model(rm, output_dir, cfg.tokenizer.path, at::kFloat, cfg.reward.input,
                             static_cast<std::uint64_t>(cfg.checkpoint.max_shard_bytes));
    report["stage"] = "reward";
    report["train_pairs"] = result.train_pairs;
    report["valid_pairs"] = result.valid_pairs;
    report["label_temperature"] = cfg.reward.label_temperature;
    report["input"] = std::string(config::enum_name(cfg.reward.input));
    report["valid_accuracy"] = result.valid_accuracy;
    if (user_pairs) {
      // No gold judge and no UCI check (another task's data): those figures do not exist (null).
      report["preferences_file"] = cfg.reward.preferences_file;
      for (const char* key :
           {"valid_gold_accuracy", "valid_cross_prompt_accuracy", "spearman_rm_gold",
            "spearman_within_prompt", "uci_accuracy", "uci_auc"}) {
        report[key] = nullptr;
      }
    } else {
      report["valid_gold_accuracy"] = result.valid_gold_accuracy;
      report["valid_cross_prompt_accuracy"] = result.valid_cross_prompt_accuracy;
      report["spearman_rm_gold"] = result.spearman;
      report["spearman_within_prompt"] = result.spearman_within_prompt;
      report["samples_per_prompt"] = per_prompt;
      report["prompts_per_group"] = cfg.reward.prompts_per_group;
      report["uci_accuracy"] = result.uci_accuracy;
      report["uci_auc"] = result.uci_auc;
    }
    report["model_dir"] = output_dir;
    report["wall_seconds"] = loop.state().wall_seconds;
    fs::write_file_atomic(run_dir + "/reward_report.json", report.dump(2) + "\n");
    if (user_pairs) {
      log::info("[reward] done: held-out accuracy {:.3f} on {} pairs of {}; model in {}",
                result.valid_accuracy, result.valid_pairs, cfg.reward.preferences_file, output_dir);
    } else {
      log::info(
          "[reward] done: held-out accuracy {:.3f} (gold order {:.3f}), Spearman(RM, gold) {:.3f} "
          "(within a prompt {:.3f}), UCI accuracy {:.3f} (AUC {:.3f}); model in {}",
          result.valid_accuracy, result.valid_gold_accuracy, result.spearman,
          result.spearman_within_prompt, result.uci_accuracy, result.uci_auc, output_dir);
    }
  };
  runtime::main_only(dist, "the final evaluation and export", finish);
  return result;
}

}  // namespace infalign::train
