// The binaries as a user runs them: help, usage errors, config errors, --dump-config, --check.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "infalign/config/load.h"
#include "infalign/core/fs.h"

#include "paths.h"
#include "process.h"

namespace infalign {
namespace {

using testing::run_process;
using testing::shell_quote;
using testing::source_path;

const std::string kTrain = INFALIGN_TRAIN_BIN;
const std::string kEval = INFALIGN_EVAL_BIN;

TEST(CliTest, HelpAndVersionExitZero) {
  for (const std::string& bin : {kTrain, kEval}) {
    const auto help = run_process(bin + " --help");
    EXPECT_EQ(help.exit_code, 0) << help.err;
    EXPECT_NE(help.out.find("--config"), std::string::npos) << help.out;
    EXPECT_NE(help.out.find("Exit codes"), std::string::npos) << help.out;
    const auto version = run_process(bin + " --version");
    EXPECT_EQ(version.exit_code, 0);
    EXPECT_NE(version.out.find("0.1.0"), std::string::npos) << version.out;
  }
}

TEST(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(run_process(kTrain).exit_code, 2);  // --config is required
  EXPECT_EQ(run_process(kTrain + " --config x.yaml --no-such-flag").exit_code, 2);
  EXPECT_EQ(run_process(kEval + " --config x.yaml --log-level loud").exit_code, 2);
}

TEST(CliTest, BadConfigExitsTwoAndNamesEveryKeyOnStderr) {
  const std::string config = source_path("tests/data/configs/invalid/three_mistakes.yaml");
  for (const std::string& bin : {kTrain, kEval}) {
    const auto result = run_process(bin + " --config " + shell_quote(config));
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.err.find("invalid config (3 problems)"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("three_mistakes.yaml:7:3: ppo.clip_rnage: unknown key"),
              std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("three_mistakes.yaml:9:9: transform.kind: got 'expo'"),
              std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("three_mistakes.yaml:11:16: generation.temperature: got 'hot'"),
              std::string::npos)
        << result.err;
    EXPECT_TRUE(result.out.empty()) << result.out;
  }
}

TEST(CliTest, BadOverrideExitsTwo) {
  const auto result =
      run_process(kTrain + " --config " + shell_quote(source_path("configs/tests/tiny.yaml")) +
                  " --set ppo.clip_range=7 --dump-config");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--set ppo.clip_range=7: ppo.clip_range: got 7"), std::string::npos)
      << result.err;
}

TEST(CliTest, DumpConfigOfEveryShippedConfigLoadsBackEqual) {
  fs::TempDir dir;
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(source_path("configs"))) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string path = entry.path().string();
    const auto dumped = run_process(kTrain + " --config " + shell_quote(path) + " --dump-config");
    ASSERT_EQ(dumped.exit_code, 0) << path << "\n" << dumped.err;
    const std::string copy = dir.path() + "/dump.yaml";
    fs::write_file_atomic(copy, dumped.out);
    const auto again = run_process(kTrain + " --config " + shell_quote(copy) + " --dump-config");
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(again.out, dumped.out) << path;
    const auto original = config::load_experiment_config(path);
    const auto reloaded = config::load_experiment_config(copy);
    EXPECT_TRUE(config::diff_configs(original.config, reloaded.config).empty()) << path;
    ++count;
  }
  EXPECT_GE(count, 4u);
}

TEST(CliTest, CheckSetsUpTheRunDirectoryAndReportsTheRuntime) {
  fs::TempDir dir;
  const std::string run_dir = dir.path() + "/run";
  const auto result = run_process(kTrain + " --config " +
                                  shell_quote(source_path("configs/default/ctrl_bon4.yaml")) +
                                  " --check --set run.run_dir=" + shell_quote(run_dir));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::string log = fs::read_file(run_dir + "/train.log");
  EXPECT_NE(log.find("[run] BLAS: "), std::string::npos) << log;
  EXPECT_NE(log.find("[run] LibTorch "), std::string::npos) << log;
  EXPECT_NE(log.find("GFLOP/s"), std::string::npos) << log;
  EXPECT_NE(log.find("check finished"), std::string::npos) << log;
  // The resolved copy is the config, overrides included.
  const auto resolved = config::load_experiment_config(run_dir + "/config.resolved.yaml");
  EXPECT_EQ(resolved.config.run.run_dir, run_dir);
  EXPECT_EQ(resolved.config.run.name, "ctrl_bon4");
}

// The memory plan of the 1.1B run (docs/memory.md) on a 24 GiB machine: --check prints it and
// passes with LoRA and bfloat16 frozen models, and refuses the same run without them (exit 2)
// naming the biggest term and the option that shrinks it.
TEST(CliTest, CheckPrintsTheMemoryPlanAndRefusesARunThatDoesNotFit) {
  fs::TempDir dir;
  const std::string base = kTrain + " --config " +
                           shell_quote(source_path("configs/examples/tinyllama_memory.yaml")) +
                           " --check --set run.memory_limit_gib=24 --set run.run_dir=" +
                           shell_quote(dir.path() + "/run");
  const auto fits = run_process(base);
  ASSERT_EQ(fits.exit_code, 0) << fits.err;
  const std::string log = fs::read_file(dir.path() + "/run/train.log");
  EXPECT_NE(log.find("memory: stage ppo: planned peak"), std::string::npos) << log;
  EXPECT_NE(log.find("policy (frozen base) weights (float32, 1.10B parameters)"), std::string::npos)
      << log;
  EXPECT_NE(log.find("(run.memory_limit_gib) on cpu"), std::string::npos) << log;

  const auto refused = run_process(base + " --set lora.rank=0 --set run.frozen_dtype=float32");
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("run.memory_check: stage ppo will not fit"), std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("The biggest term is policy AdamW moments"), std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("shrink it with lora.rank"), std::string::npos) << refused.err;
  // run.memory_check: false starts it anyway (here: --check only warns).
  const auto warned = run_process(base +
                                  " --set lora.rank=0 --set run.frozen_dtype=float32 --set "
                                  "run.memory_check=false");
  EXPECT_EQ(warned.exit_code, 0) << warned.err;
}

TEST(CliTest, RunningAStageWithMissingInputsExitsTwoNamingThem) {
  fs::TempDir dir;
  const auto result =
      run_process(kTrain + " --config " + shell_quote(source_path("configs/tests/tiny.yaml")) +
                  " --set run.run_dir=" + shell_quote(dir.path() + "/run") +
                  " --set model.init_from=" + shell_quote(dir.path() + "/missing_base"));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("model.init_from: '" + dir.path() + "/missing_base' does not exist"),
            std::string::npos)
      << result.err;
}

// A corpus of made-up three-syllable words: enough distinct pieces for a 32-piece vocabulary.
std::string small_corpus() {
  const char* syllables[] = {"ba", "ce", "di", "fo", "gu", "ka", "lo", "mi"};
  std::string text;
  for (int line = 0; line < 200; ++line) {
    for (int w = 0; w < 8; ++w) {
      const int i = line * 8 + w;
      text += std::string(syllables[i % 8]) + syllables[(i / 8) % 8] + syllables[(i * 5) % 8] + " ";
    }
    text += "\n";
  }
  return text;
}

TEST(CliTest, TokenizerStageTrainsAModelThatCheckThenLoads) {
  fs::TempDir dir;
  fs::write_file_atomic(dir.path() + "/train.txt", small_corpus());
  const std::string common =
      " --config " + shell_quote(source_path("configs/tests/tiny.yaml")) +
      " --set run.run_dir=" + shell_quote(dir.path() + "/run") +
      " --set data.train_file=" + shell_quote(dir.path() + "/train.txt") +
      " --set tokenizer.path=" + shell_quote(dir.path() + "/tok/tokenizer.model");
  const auto trained = run_process(kTrain + common + " --set run.stage=tokenizer");
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/tok/tokenizer.model"));
  EXPECT_NE(trained.err.find("pieces, unk 0 bos 1 eos 2 pad 3"), std::string::npos) << trained.err;
  // The binaries load it next to LibTorch (a protobuf clash would crash them here).
  for (const std::string& bin : {kTrain, kEval}) {
    const auto checked = run_process(bin + common + " --set run.stage=lm --check");
    ASSERT_EQ(checked.exit_code, 0) << checked.err;
    EXPECT_NE(checked.err.find("tokens (SentencePiece, module "), std::string::npos) << checked.err;
  }
  // A config whose special ids disagree with the model is refused when a stage uses it.
  const auto mismatch = run_process(kTrain + common +
                                    " --set run.stage=tokenizer --set tokenizer.pad_id=4 "
                                    "--set tokenizer.vocab_size=31");
  EXPECT_EQ(mismatch.exit_code, 0) << mismatch.err;  // retrained with pad 4: consistent again
  const auto stale = run_process(kTrain + common + " --set run.stage=lm --check");
  EXPECT_NE(stale.err.find("tokenizer.pad_id: got 3, but"), std::string::npos) << stale.err;
}

// Stage lm on a tiny corpus: train the tokenizer, then the LM, in `run_dir`.
class TinyLmRun {
 public:
  explicit TinyLmRun(const std::string& dir) : dir_(dir) {
    fs::write_file_atomic(dir_ + "/train.txt", small_corpus());
    std::string valid;
    for (int i = 0; i < 20; ++i) valid += "lomiba cefo dika " + std::to_string(i % 3) + "\n";
    fs::write_file_atomic(dir_ + "/valid.txt", valid);
    common_ = " --config " + shell_quote(source_path("configs/tests/tiny.yaml")) +
              " --set data.train_file=" + shell_quote(dir_ + "/train.txt") +
              " --set data.valid_file=" + shell_quote(dir_ + "/valid.txt") +
              " --set tokenizer.path=" + shell_quote(dir_ + "/tokenizer.model") +
              " --set run.threads=1";
    const auto tok =
        run_process(kTrain + common_ +
                    " --set run.stage=tokenizer --set run.run_dir=" + shell_quote(dir_ + "/tok"));
    EXPECT_EQ(tok.exit_code, 0) << tok.err;
  }
  // Runs stage lm in <dir>/<name> with `extra` arguments; `env` prefixes the command.
  testing::ProcessResult lm(const std::string& name, const std::string& extra = "",
                            const std::string& env = "") const {
    return run_process(env + command(name, extra));
  }
  // The command line lm() runs.
  std::string command(const std::string& name, const std::string& extra = "") const {
    return kTrain + common_ + " --set run.stage=lm --set " + shell_quote("model.init_from=\"\"") +
           " " + "--set run.run_dir=" + shell_quote(dir_ + "/" + name) + " " + extra;
  }
  // Runs infalign-eval with the same tiny config and `extra` arguments; `env` prefixes it.
  testing::ProcessResult eval(const std::string& extra, const std::string& env = "") const {
    return run_process(env + eval_command(extra));
  }
  // The command line eval() runs.
  std::string eval_command(const std::string& extra) const {
    return kEval + common_ + " --set run.run_dir=" + shell_quote(dir_ + "/evalrun") + " " + extra;
  }
  std::string file(const std::string& name, const std::string& rel) const {
    return fs::read_file(dir_ + "/" + name + "/" + rel);
  }

 private:
  std::string dir_;
  std::string common_;
};

// metrics.jsonl without its timing fields (wall_seconds, perf/..., eps, timing/...), which
// legitimately differ between runs.
std::string without_timings(const std::string& jsonl) {
  std::string out = jsonl;
  for (const std::string key :
       {",\"wall_seconds\":", ",\"perf/tokens_per_s\":", ",\"eps\":", ",\"timing/generate\":",
        ",\"timing/score\":", ",\"timing/reference\":", ",\"timing/update\":"}) {
    for (auto b = out.find(key); b != std::string::npos; b = out.find(key)) {
      const auto e = out.find_first_of(",}", b + key.size());
      out.erase(b, e - b);
    }
  }
  return out;
}

// The "[lm] sample: ..." texts a run printed, in order.
std::vector<std::string> sample_lines(const std::string& log) {
  std::vector<std::string> out;
  const std::string key = "[lm] sample: ";
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    const auto at = line.find(key);
    if (at != std::string::npos) out.push_back(line.substr(at + key.size()));
  }
  return out;
}

TEST(LmStageTest, KilledAndResumedRunEqualsAnUninterruptedOne) {
  fs::TempDir dir;
  TinyLmRun run(dir.path());
  // Samples printed every step (validation records long enough to give sample prompts, a
  // context with room to continue them), so the sample stream's RNG is drawn from before and
  // after the stop: a resume that did not restore it would print other samples.
  std::string valid;
  for (int i = 0; i < 20; ++i)
    valid += "lomiba cefo dika bacemi fogu kalo " + std::to_string(i % 3) + "\n";
  fs::write_file_atomic(dir.path() + "/valid.txt", valid);
  const std::string sampling =
      "--set train.sample_every_steps=1 --set model.max_position_embeddings=32";
  const auto straight = run.lm("straight", sampling);
  ASSERT_EQ(straight.exit_code, 0) << straight.err;
  EXPECT_NE(straight.err.find("validation loss"), std::string::npos) << straight.err;

  // SIGTERM after step 3 of 6: the run saves a checkpoint at that boundary and exits 143.
  const auto stopped = run.lm("resumed", sampling, "INFALIGN_TEST_STOP_AFTER_STEP=3 ");
  ASSERT_EQ(stopped.exit_code, 143) << stopped.err;
  EXPECT_EQ(run.file("resumed", "checkpoints/latest"), "step_00000003\n");
  // The same command again resumes from it and finishes.
  const auto resumed = run.lm("resumed", sampling);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resumed from"), std::string::npos) << resumed.err;
  // Steps 4 and 5 and the final samples are the same in both runs (3 prompts each: steps 1-5
  // and the end in the straight run, steps 4, 5 and the end after the resume).
  const auto all = sample_lines(straight.err), after = sample_lines(resumed.err);
  ASSERT_EQ(all.size(), 18u) << straight.err;
  ASSERT_EQ(after.size(), 9u) << resumed.err;
  EXPECT_EQ(std::vector<std::string>(all.end() - 9, all.end()), after);

  EXPECT_EQ(run.file("resumed", "model/model.safetensors"),
            run.file("straight", "model/model.safetensors"));
  EXPECT_EQ(run.file("resumed", "checkpoints/step_00000006/optimizer.safetensors"),
            run.file("straight", "checkpoints/step_00000006/optimizer.safetensors"));
  EXPECT_EQ(run.file("resumed", "checkpoints/step_00000006/rng.safetensors"),
            run.file("straight", "checkpoints/step_00000006/rng.safetensors"));
  EXPECT_EQ(without_timings(run.file("resumed", "metrics.jsonl")),
            without_timings(run.file("straight", "metrics.jsonl")));
  const auto state = run.file("resumed", "checkpoints/step_00000006/state.json");
  EXPECT_NE(state.find("\"step\": 6"), std::string::npos) << state;
  // The report compares against the unigram baseline.
  EXPECT_NE(run.file("straight", "lm_report.json").find("unigram_perplexity"), std::string::npos);
}

TEST(LmStageTest, ALeftoverTmpCheckpointIsIgnoredAndShapeChangesAreRefused) {
  fs::TempDir dir;
  TinyLmRun run(dir.path());
  ASSERT_EQ(run.lm("a", "--set train.total_steps=2").exit_code, 0);
  // A kill during a save leaves step_*.tmp behind: `latest` still names the complete one.
  fs::create_directories(dir.path() + "/a/checkpoints/step_00000004.tmp");
  const auto again = run.lm("a", "--set train.total_steps=3");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("resumed from " + dir.path() + "/a/checkpoints/step_00000002"),
            std::string::npos)
      << again.err;
  const auto changed = run.lm("a", "--set train.total_steps=4 --set model.intermediate_size=48");
  EXPECT_EQ(changed.exit_code, 3) << changed.err;
  EXPECT_NE(changed.err.find("model.intermediate_size was 32"), std::string::npos) << changed.err;
}

// A made-up lexicon over the tiny corpus' syllable words (1-3 syllables; the first syllable
// sets the valence, so gold scores of samples differ) in <dir>/lexicon.txt, and four prompts in
// <dir>/prompts.txt.
void write_syllable_lexicon_and_prompts(const std::string& dir) {
  const char* syllables[] = {"ba", "ce", "di", "fo", "gu", "ka", "lo", "mi"};
  const double valence[] = {2.0, -2.0, 1.0, -1.0, 0.5, -0.5, 1.5, -1.5};
  std::string lexicon;
  for (int a = 0; a < 8; ++a) {
    for (int b = -1; b < 8; ++b) {
      for (int c = -1; c < 8; ++c) {
        if (b < 0 && c >= 0) continue;
        std::string word = syllables[a];
        if (b >= 0) word += syllables[b];
        if (c >= 0) word += syllables[c];
        lexicon += word + "\t" + std::to_string(valence[a]) + "\t0.5\t[1]\n";
      }
    }
  }
  fs::write_file_atomic(dir + "/lexicon.txt", lexicon);
  fs::write_file_atomic(dir + "/prompts.txt",
                        "bababa cebaka\ndibadi ceceka baceba\ncebaka\nbaceba dibadi\n");
}

// The largest absolute difference between the float32 tensors of two safetensors files (read here
// without LibTorch): over all tensors, which must be the same in both, or with `common_only` over
// the tensors both have.
double max_abs_difference(const std::string& path_a, const std::string& path_b,
                          bool common_only = false) {
  const std::string a = fs::read_file(path_a), b = fs::read_file(path_b);
  auto header = [](const std::string& bytes, std::uint64_t* size) {
    std::memcpy(size, bytes.data(), 8);
    return nlohmann::json::parse(bytes.substr(8, *size));
  };
  std::uint64_t na = 0, nb = 0;
  const auto ha = header(a, &na), hb = header(b, &nb);
  double worst = 0;
  for (auto it = ha.begin(); it != ha.end(); ++it) {
    if (it.key() == "__metadata__" || (common_only && !hb.contains(it.key()))) continue;
    EXPECT_EQ(it.value().at("dtype"), "F32") << it.key();
    const auto ra = it.value().at("data_offsets"), rb = hb.at(it.key()).at("data_offsets");
    const std::size_t n = (ra[1].get<std::size_t>() - ra[0].get<std::size_t>()) / 4;
    EXPECT_EQ(n * 4, rb[1].get<std::size_t>() - rb[0].get<std::size_t>()) << it.key();
    for (std::size_t i = 0; i < n; ++i) {
      float x = 0, y = 0;
      std::memcpy(&x, a.data() + 8 + na + ra[0].get<std::size_t>() + 4 * i, 4);
      std::memcpy(&y, b.data() + 8 + nb + rb[0].get<std::size_t>() + 4 * i, 4);
      worst = std::max(worst, static_cast<double>(std::abs(x - y)));
    }
  }
  return worst;
}

// Stage reward over a tiny run directory holding lm/model, lexicon.txt and prompts.txt.
std::string tiny_reward_args(const std::string& dir) {
  return "--set run.stage=reward --set model.init_from=" + shell_quote(dir + "/lm/model") +
         " --set reward.lexicon_path=" + shell_quote(dir + "/lexicon.txt") +
         " --set data.train_prompts_file=" + shell_quote(dir + "/prompts.txt") +
         " --set reward.train_prompts=60 --set reward.samples_per_prompt=4 --set "
         "reward.prompts_per_group=2 --set reward.input=response";
}

TEST(PipelineTest, TinyTokenizerLmRewardCalibrateAndPpoStagesRunEndToEnd) {
  fs::TempDir dir;
  TinyLmRun run(dir.path());
  ASSERT_EQ(run.lm("lm").exit_code, 0);
  write_syllable_lexicon_and_prompts(dir.path());
  const std::string reward_args = tiny_reward_args(dir.path());
  const auto reward = run.lm("rm", reward_args);
  ASSERT_EQ(reward.exit_code, 0) << reward.err;
  const std::string pairs = run.file("rm", "preference_pairs.tsv");
  EXPECT_EQ(pairs.rfind("split\tchosen_prompt\tchosen\trejected_prompt\trejected\tgold_"
                        "chosen\tgold_rejected\tp_chosen\n",
                        0),
            0u);
  EXPECT_NE(pairs.find("\ntrain\t"), std::string::npos);
  const std::string report = run.file("rm", "reward_report.json");
  for (const char* key : {"valid_accuracy", "spearman_rm_gold", "train_pairs"}) {
    EXPECT_NE(report.find(key), std::string::npos) << report;
  }
  const std::string weights = run.file("rm", "model/model.safetensors");
  EXPECT_NE(weights.find("\"score.weight\""), std::string::npos);
  // Stage reward resumes exactly too: SIGTERM after step 3, rerun, same final model.
  ASSERT_EQ(run.lm("rm2", reward_args, "INFALIGN_TEST_STOP_AFTER_STEP=3 ").exit_code, 143);
  ASSERT_EQ(run.lm("rm2", reward_args).exit_code, 0);
  EXPECT_EQ(run.file("rm2", "model/model.safetensors"), weights);
  EXPECT_EQ(run.file("rm2", "preference_pairs.tsv"), pairs);  // pairs are regenerated identically
  EXPECT_NE(run.file("rm", "model/config.json").find("LlamaForSequenceClassification"),
            std::string::npos);
  // The model records what it reads (reward.input), for calibration, PPO and evaluation.
  EXPECT_NE(run.file("rm", "model/config.json").find("\"infalign_score_input\": \"response\""),
            std::string::npos);

  // Stage calibrate with that reward model: K = 8 base samples of each of the 4 prompts, one
  // prompt per persisted chunk.
  const std::string cal_args =
      "--set run.stage=calibrate --set model.init_from=" + shell_quote(dir.path() + "/lm/model") +
      " --set reward.model_path=" + shell_quote(dir.path() + "/rm/model") +
      " --set data.train_prompts_file=" + shell_quote(dir.path() + "/prompts.txt") +
      " --set calibration.num_samples=8 --set calibration.chunk_prompts=1"
      " --set calibration.report_prompts=4 --set calibration.report_samples=2";
  const auto cal = run.lm("cal", cal_args);
  ASSERT_EQ(cal.exit_code, 0) << cal.err;
  EXPECT_NE(cal.err.find("held-out check: calibrated rewards of 8 fresh base samples"),
            std::string::npos)
      << cal.err;
  const std::string cache = run.file("cal", "calibration.cache");
  EXPECT_EQ(cache.rfind("INFCAL01", 0), 0u);
  EXPECT_NE(run.file("cal", "calibration_report.json").find("\"ks\""), std::string::npos);
  // Killed after 2 of 4 chunks and restarted: the same cache as the uninterrupted build.
  const auto killed = run.lm("cal2", cal_args, "INFALIGN_TEST_STOP_AFTER_STEP=2 ");
  ASSERT_EQ(killed.exit_code, 143) << killed.err;
  EXPECT_TRUE(
      std::filesystem::exists(dir.path() + "/cal2/calibration.cache.partial/chunk-000001.cal"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/cal2/calibration.cache"));
  const auto resumed = run.lm("cal2", cal_args);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming: 2 of 4 chunks"), std::string::npos) << resumed.err;
  EXPECT_EQ(run.file("cal2", "calibration.cache"), cache);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/cal2/calibration.cache.partial"));
  // Another K: a stale cache is an error naming the difference, or rebuilt on request.
  const auto stale = run.lm("cal", cal_args + " --set calibration.num_samples=6");
  EXPECT_EQ(stale.exit_code, 3) << stale.err;
  EXPECT_NE(stale.err.find("K (calibration.num_samples): the cache has 8, the config expects 6"),
            std::string::npos)
      << stale.err;
  EXPECT_EQ(run.file("cal", "calibration.cache"), cache);  // untouched
  const auto rebuilt = run.lm("cal", cal_args + " --set calibration.num_samples=6" +
                                         " --set calibration.on_mismatch=rebuild");
  EXPECT_EQ(rebuilt.exit_code, 0) << rebuilt.err;
  EXPECT_NE(run.file("cal", "calibration.cache"), cache);
  // A corrupted cache is a clear error, never a crash.
  std::string corrupt = run.file("cal2", "calibration.cache");
  corrupt[corrupt.size() / 2] ^= 0x20;
  fs::write_file_atomic(dir.path() + "/cal2/calibration.cache", corrupt);
  const auto bad = run.lm("cal2", cal_args);
  EXPECT_EQ(bad.exit_code, 3) << bad.err;
  EXPECT_NE(bad.err.find("calibration.cache: checksum mismatch"), std::string::npos) << bad.err;

  // Stage ppo on top: calibrates first (its own cache), T = 0.7, micro-batches of one sequence.
  const std::string ppo_args =
      "--set run.stage=ppo --set model.init_from=" + shell_quote(dir.path() + "/lm/model") +
      " --set reward.model_path=" + shell_quote(dir.path() + "/rm/model") +
      " --set data.train_prompts_file=" + shell_quote(dir.path() + "/prompts.txt") +
      " --set generation.temperature=0.7 --set ppo.rollout_batch_size=4"
      " --set ppo.num_mini_batches=2 --set ppo.micro_batch_size=1 --set ppo.policy_lr=1e-2"
      " --set checkpoint.every_steps=1 --set calibration.report_prompts=0";
  const auto ppo = run.lm("ppo", ppo_args);
  ASSERT_EQ(ppo.exit_code, 0) << ppo.err;
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/ppo/calibration.cache"));
  const std::string ppo_metrics = run.file("ppo", "metrics.jsonl");
  EXPECT_EQ(std::count(ppo_metrics.begin(), ppo_metrics.end(), '\n'), 6);
  {
    // The first minibatch's probability ratio is 1: the training forward reproduces the
    // rollout's log-probs (temperature included).
    std::istringstream lines(ppo_metrics);
    for (std::string line; std::getline(lines, line);) {
      const auto j = nlohmann::json::parse(line);
      EXPECT_LT(j.at("policy/first_ratio_max_dev").get<double>(), 1e-5) << line;
      // ... and the sampler's own log-probs (KV-cache path, temperature 0.7) agree with it.
      EXPECT_LT(j.at("policy/sampler_logprob_max_dev").get<double>(), 1e-4) << line;
      for (const char* key : {"objective/calibrated_u", "objective/kl_k3", "val/explained_variance",
                              "timing/generate", "gen/eos_rate"}) {
        EXPECT_TRUE(j.contains(key)) << key;
      }
    }
  }
  EXPECT_NE(run.file("ppo", "final/config.json").find("LlamaForCausalLM"), std::string::npos);
  const std::string final_policy = run.file("ppo", "final/model.safetensors");
  EXPECT_NE(final_policy, run.file("lm", "model/model.safetensors"));  // it learned something
  // Exact resume: stopped (SIGTERM) after iteration 3, rerun: the same policy, value, optimizer
  // moments and metrics as the straight run.
  ASSERT_EQ(run.lm("ppo2", ppo_args, "INFALIGN_TEST_STOP_AFTER_STEP=3 ").exit_code, 143);
  const auto ppo2 = run.lm("ppo2", ppo_args);
  ASSERT_EQ(ppo2.exit_code, 0) << ppo2.err;
  EXPECT_NE(ppo2.err.find("resumed from"), std::string::npos) << ppo2.err;
  EXPECT_EQ(run.file("ppo2", "final/model.safetensors"), final_policy);
  for (const char* f : {"policy.safetensors", "value.safetensors", "policy_optimizer.safetensors",
                        "value_optimizer.safetensors", "state.json"}) {
    const std::string a = run.file("ppo", std::string("checkpoints/step_00000006/") + f);
    const std::string b = run.file("ppo2", std::string("checkpoints/step_00000006/") + f);
    if (std::string(f) == "state.json") {
      EXPECT_EQ(a.substr(0, a.find("\"wall_seconds\"")), b.substr(0, b.find("\"wall_seconds\"")));
    } else {
      EXPECT_EQ(a, b) << f;
    }
  }
  EXPECT_EQ(without_timings(run.file("ppo2", "metrics.jsonl")), without_timings(ppo_metrics));
  // Another reward than the checkpoint's: refused, naming it (exit 3).
  const auto other_reward =
      run.lm("ppo2", ppo_args + " --set transform.kind=raw --set reward.kind=gold" +
                         " --set reward.lexicon_path=" + shell_quote(dir.path() + "/lexicon.txt"));
  EXPECT_EQ(other_reward.exit_code, 3) << other_reward.err;
  EXPECT_NE(other_reward.err.find("changed since this checkpoint was written"), std::string::npos)
      << other_reward.err;
  // The optional paths: entropy bonus, dual clip, joint optimizer, k3, adaptive KL, critic
  // warm-up (the policy stays frozen for 2 iterations, beta moves every iteration).
  const auto options =
      run.lm("ppo3", ppo_args +
                         " --set ppo.total_steps=4 --set ppo.entropy_coef=0.01"
                         " --set ppo.dual_clip=3 --set ppo.joint_optimizer=true"
                         " --set ppo.kl_estimator=k3 --set ppo.adaptive_kl=true"
                         " --set ppo.target_kl=0.05 --set ppo.critic_warmup_steps=2"
                         " --set checkpoint.keep_last=10");
  ASSERT_EQ(options.exit_code, 0) << options.err;
  {
    std::istringstream lines(run.file("ppo3", "metrics.jsonl"));
    std::vector<nlohmann::json> rows;
    for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(rows.size(), 4u);
    EXPECT_EQ(rows[0].at("lr/policy").get<double>(), 0.0);
    EXPECT_EQ(rows[1].at("lr/policy").get<double>(), 0.0);
    EXPECT_GT(rows[2].at("lr/policy").get<double>(), 0.0);
    EXPECT_NE(rows[3].at("kl_coef").get<double>(), rows[0].at("kl_coef").get<double>());
  }
  EXPECT_EQ(run.file("ppo3", "checkpoints/step_00000002/policy.safetensors"),
            run.file("ppo3", "checkpoints/step_00000001/policy.safetensors"));  // frozen

  // The critic-free estimators (2 prompts x 2 samples a batch, the theory tool's fixed beta):
  // no value model anywhere, and exact resume for each.
  for (const char* estimator : {"rloo", "group"}) {
    const std::string args = ppo_args + " --set ppo.advantage=" + estimator +
                             " --set ppo.samples_per_prompt=2 --set ppo.kl_coef_from_theory=true"
                             " --set ppo.target_kl=0.3 --set ppo.kl_estimator=full";
    const std::string straight = std::string("cf_") + estimator;
    const std::string resumed = straight + "_resumed";
    const auto done = run.lm(straight, args);
    ASSERT_EQ(done.exit_code, 0) << done.err;
    EXPECT_NE(done.err.find("no value model"), std::string::npos) << done.err;
    EXPECT_NE(done.err.find("kl_coef from the theory tool"), std::string::npos) << done.err;
    EXPECT_FALSE(std::filesystem::exists(dir.path() + "/" + straight +
                                         "/checkpoints/step_00000006/value.safetensors"));
    const std::string metrics = run.file(straight, "metrics.jsonl");
    EXPECT_NE(metrics.find("objective/returns_std"), std::string::npos);
    EXPECT_EQ(metrics.find("val/explained_variance"), std::string::npos);
    ASSERT_EQ(run.lm(resumed, args, "INFALIGN_TEST_STOP_AFTER_STEP=3 ").exit_code, 143);
    const auto again = run.lm(resumed, args);
    ASSERT_EQ(again.exit_code, 0) << again.err;
    for (const char* f :
         {"policy.safetensors", "policy_optimizer.safetensors", "rng.safetensors"}) {
      EXPECT_EQ(run.file(straight, std::string("checkpoints/step_00000006/") + f),
                run.file(resumed, std::string("checkpoints/step_00000006/") + f))
          << estimator << " " << f;
    }
    EXPECT_EQ(without_timings(run.file(resumed, "metrics.jsonl")), without_timings(metrics))
        << estimator;
  }

  // infalign-eval: the PPO run (a run directory: its final export), a checkpoint of ppo3, and
  // the base itself, each against the base, under both judges; then compare.
  const std::string eval_args =
      "--set eval.base_model=" + shell_quote(dir.path() + "/lm/model") +
      " --set reward.model_path=" + shell_quote(dir.path() + "/rm/model") +
      " --set reward.lexicon_path=" + shell_quote(dir.path() + "/lexicon.txt") +
      " --set data.eval_prompts_file=" + shell_quote(dir.path() + "/prompts.txt") +
      " --set eval.samples_per_prompt=4 --set eval.best_of_n=[1,2,4]"
      " --set eval.calibration_samples=8 --set oracle.enabled=true"
      " --set oracle.kl_points=[0.1,0.5]"
      " --set eval.bootstrap_resamples=200 --set eval.output_dir=" +
      shell_quote(dir.path() + "/eval") + " --set " +
      shell_quote("eval.policies=[" + dir.path() + "/ppo, " + dir.path() +
                  "/ppo3/checkpoints/step_00000004, " + dir.path() + "/lm/model]");
  const auto evaluated = run.eval(eval_args);
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  {
    const auto results = nlohmann::json::parse(run.file("eval", "results.json"));
    const auto& policies = results.at("policies");
    ASSERT_EQ(policies.size(), 3u);
    EXPECT_EQ(policies[0].at("name"), "ppo");
    EXPECT_EQ(policies[1].at("name"), "ppo3@4");
    EXPECT_EQ(policies[2].at("name"), "model");
    EXPECT_EQ(results.at("prompts"), 4);
    // The base against itself: KL exactly 0 (same weights, same forward).
    EXPECT_EQ(policies[2].at("kl_k1").at("mean").get<double>(), 0.0);
    EXPECT_GT(policies[0].at("kl_k1").at("mean").get<double>(), 0.0);
    // The PPO run's transform is read from its resolved config; the plain model has none.
    EXPECT_FALSE(policies[0].at("theory").is_null());
    EXPECT_NE(policies[0].at("transform").get<std::string>().find("exp"), std::string::npos);
    EXPECT_TRUE(policies[2].at("theory").is_null());
    for (const auto& p : policies) {
      ASSERT_EQ(p.at("judges").size(), 2u);
      for (const auto& j : p.at("judges")) {
        ASSERT_EQ(j.at("win_rates").size(), 3u);
        for (const auto& row : j.at("win_rates")) {
          const auto& e = row.at("best_of_n");
          EXPECT_LE(e.at("lo").get<double>(), e.at("mean").get<double>());
          EXPECT_GE(e.at("hi").get<double>(), e.at("mean").get<double>());
          // The per-prompt win rates (for paired comparisons) average to the reported mean.
          const auto pp = row.at("best_of_n_per_prompt").get<std::vector<double>>();
          ASSERT_EQ(pp.size(), 4u);
          EXPECT_NEAR((pp[0] + pp[1] + pp[2] + pp[3]) / 4, e.at("mean").get<double>(), 1e-6);
        }
      }
    }
    // The calibrated rewards: every policy's u under both judges; the KL efficiency where the
    // KL is not 0; the base's own u (the estimator's floor).
    for (const auto& p : policies) {
      for (const auto& j : p.at("judges")) {
        ASSERT_FALSE(j.at("u").is_null());
        const double u_kl = j.at("u").at("u_kl").at("mean").get<double>();
        EXPECT_GE(u_kl, 0.0);
        EXPECT_EQ(j.at("u").at("histogram").size(), 10u);
        EXPECT_EQ(j.at("u").at("kl_efficiency").is_null(), &p == &policies[2]);
      }
    }
    EXPECT_EQ(results.at("base").at("u").size(), 2u);
    // The oracle: the configured transforms and the PPO run's own, under both judges; the PPO run
    // gets its fraction of the oracle's gain (or the reason it has none), the base nothing.
    const auto& oracle = results.at("oracle");
    ASSERT_FALSE(oracle.is_null());
    EXPECT_EQ(oracle.at("candidates"), 8);
    const std::string own = policies[0].at("judges")[0].at("oracle").at("transform");
    std::set<std::string> curves;
    for (const auto& c : oracle.at("curves")) curves.insert(c.at("transform").get<std::string>());
    EXPECT_TRUE(curves.count(own) == 1 && curves.count("raw") == 1 && curves.count("identity") == 1)
        << own;
    const auto& gain = policies[0].at("judges")[0].at("oracle");
    if (gain.at("rows").empty()) {
      EXPECT_NE(gain.at("note").get<std::string>().find("undefined"), std::string::npos);
    } else {
      EXPECT_EQ(gain.at("rows").size(), 5u);  // standard and best/worst of 2 and 4
    }
    EXPECT_TRUE(policies[2].at("judges")[0].at("oracle").is_null());
    EXPECT_FALSE(run.file("eval", "oracle.json").empty());
    EXPECT_EQ(run.file("eval", "oracle.csv").rfind("judge,transform,target_kl", 0), 0u);
    // One record per sample: 4 prompts x (4 duel + 8 calibration base samples + 3 policies x 4).
    const std::string records =
        fs::gzip_decompress(run.file("eval", "samples.jsonl.gz"), "samples.jsonl.gz");
    EXPECT_EQ(std::count(records.begin(), records.end(), '\n'), 4 * (4 + 8 + 3 * 4));
    const auto first = nlohmann::json::parse(records.substr(0, records.find('\n')));
    EXPECT_EQ(first.at("model"), "base");
    EXPECT_EQ(first.at("set"), "duel");
    for (const char* key : {"prompt_id", "prompt", "index", "response", "tokens", "eos"}) {
      EXPECT_TRUE(first.contains(key)) << key;
    }
    for (const char* judge : {"reward_model", "gold"}) {
      EXPECT_TRUE(first.at("scores").at(judge).is_number()) << judge;
      const double u = first.at("u").at(judge).get<double>();
      EXPECT_TRUE(u >= 0 && u <= 1) << u;
    }
    const std::string csv = run.file("eval", "results.csv");
    // Header + 3 policies x 2 judges x (standard + 2 N x best/worst).
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 3 * 2 * 5);
    EXPECT_EQ(run.file("eval", "win_rates.png").substr(1, 3), "PNG");
    EXPECT_NE(evaluated.err.find("best-of-N win rate"), std::string::npos) << evaluated.err;
  }
  const std::string results_file = dir.path() + "/eval/results.json";
  const auto compared = run_process(kEval + " compare " + shell_quote(results_file) + " " +
                                    shell_quote(results_file));
  ASSERT_EQ(compared.exit_code, 0) << compared.err;
  EXPECT_NE(compared.out.find("reward_model best-of-4"), std::string::npos) << compared.out;
  EXPECT_NE(compared.out.find("+0.000 [+0.000,+0.000]"), std::string::npos) << compared.out;
  EXPECT_NE(compared.out.find("paired 95% bootstrap interval"), std::string::npos) << compared.out;
  EXPECT_EQ(nlohmann::json::parse(run.file("eval", "results.json"))
                .at("pairing_key")
                .get<std::string>()
                .size(),
            64u);
  EXPECT_NE(compared.out.find("reward_model u_kl"), std::string::npos) << compared.out;
  // The oracle alone: the same base samples, oracle.json without policies.
  const auto oracle_only = run.eval("oracle " + eval_args + " --set eval.output_dir=" +
                                    shell_quote(dir.path() + "/oracle") + " --set eval.plot=false");
  ASSERT_EQ(oracle_only.exit_code, 0) << oracle_only.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/oracle/results.json"));
  {
    const auto alone = nlohmann::json::parse(run.file("oracle", "oracle.json"));
    const auto with_policies = nlohmann::json::parse(run.file("eval", "oracle.json"));
    // The configured transforms' curves equal those of the evaluation (same samples).
    EXPECT_EQ(alone.at("curves")[0], with_policies.at("curves")[0]);
  }
  fs::write_file_atomic(dir.path() + "/bad.json", "{\"infalign_version\": \"0.1.0\"}");
  const auto bad_results = run_process(kEval + " compare " + shell_quote(dir.path() + "/bad.json"));
  EXPECT_EQ(bad_results.exit_code, 3) << bad_results.err;
  EXPECT_NE(bad_results.err.find("bad.json: missing key 'config_hash'"), std::string::npos)
      << bad_results.err;
  // A truncated checkpoint: a clear error naming the file; the checkpoint before it untouched.
  const std::string latest = dir.path() + "/ppo2/checkpoints/step_00000006/policy.safetensors";
  const std::string before = run.file("ppo2", "checkpoints/step_00000005/policy.safetensors");
  const std::string whole = fs::read_file(latest);
  fs::write_file_atomic(latest, whole.substr(0, whole.size() / 2));
  const auto truncated = run.lm("ppo2", ppo_args);
  EXPECT_EQ(truncated.exit_code, 3) << truncated.err;
  EXPECT_NE(truncated.err.find("step_00000006/policy.safetensors"), std::string::npos)
      << truncated.err;
  EXPECT_EQ(run.file("ppo2", "checkpoints/step_00000005/policy.safetensors"), before);
}

// Bringing your own data and reward: stage reward on a preference-pairs JSONL, multi-line JSONL
// prompts, and a reward program (reward.kind command) in calibration, PPO and evaluation; a
// program that fails mid-run exits 1 naming it and leaves the checkpoints as they were.
TEST(ByoPipelineTest, PreferencePairsJsonlPromptsAndACommandReward) {
  fs::TempDir dir;
  TinyLmRun run(dir.path());
  ASSERT_EQ(run.lm("lm").exit_code, 0);
  const std::string d = dir.path();
  // Prompts as render_prompts.py writes them: one JSON object a line, line breaks inside.
  fs::write_file_atomic(d + "/prompts.jsonl",
                        "{\"text\": \"bababa\\ncebaka\"}\n{\"text\": \"dibadi ceceka\"}\n\n"
                        "{\"text\": \"cebaka\\n\\nbaceba\"}\n{\"text\": \"baceba dibadi\"}\n");
  std::string pairs;
  const char* words[] = {"ba", "ce", "di", "fo", "gu", "ka", "lo", "mi"};
  for (int i = 0; i < 40; ++i) {
    // The chosen response repeats "ba"; the rejected one "ce": learnable from the text.
    pairs += std::string("{\"prompt\": \"") + words[i % 8] + words[(i / 8) % 8] +
             "\", \"chosen\": \"baba " + words[i % 5] + "\", \"rejected\": \"cece " +
             words[(i + 2) % 5] + "\", \"id\": " + std::to_string(i) + "}\n";
  }
  fs::write_file_atomic(d + "/pairs.jsonl", pairs);
  const auto reward =
      run.lm("rm", "--set run.stage=reward --set model.init_from=" + shell_quote(d + "/lm/model") +
                       " --set reward.preferences_file=" + shell_quote(d + "/pairs.jsonl") +
                       " --set reward.preferences_valid_fraction=0.25 --set reward.input=response");
  ASSERT_EQ(reward.exit_code, 0) << reward.err;
  const auto report = nlohmann::json::parse(run.file("rm", "reward_report.json"));
  EXPECT_EQ(report.at("train_pairs").get<int>() + report.at("valid_pairs").get<int>(), 40);
  EXPECT_GT(report.at("valid_pairs").get<int>(), 0);
  EXPECT_TRUE(report.at("spearman_rm_gold").is_null());  // no gold judge here
  EXPECT_TRUE(report.at("uci_accuracy").is_null());      // nor the default task's UCI check
  EXPECT_NE(run.file("rm", "preference_pairs.tsv").find("\tbaba "), std::string::npos);
  // A missing pairs file is a config error naming the key.
  const auto missing = run.lm(
      "rm_missing", "--set run.stage=reward --set model.init_from=" + shell_quote(d + "/lm/model") +
                        " --set reward.preferences_file=" + shell_quote(d + "/nope.jsonl"));
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
  EXPECT_NE(missing.err.find("reward.preferences_file"), std::string::npos) << missing.err;

  // A reward program: the example scorer behind a switch that makes it fail.
  fs::write_file_atomic(d + "/scorer.sh",
                        "if [ -e " + d +
                            "/fail ]; then echo 'scorer: broken on purpose' >&2; exit 3; fi\n"
                            "exec /usr/bin/python3 " +
                            source_path("scripts/examples/keyword_scorer.py") +
                            " --good ba,di --bad ce --target-length 4 --length-penalty 0.1\n");
  const std::string command_args =
      " --set model.init_from=" + shell_quote(d + "/lm/model") +
      " --set reward.kind=command --set " + shell_quote("reward.command=sh " + d + "/scorer.sh") +
      " --set data.train_prompts_file=" + shell_quote(d + "/prompts.jsonl") +
      " --set data.prompt_field=text --set calibration.report_prompts=0";
  // The frozen reference in bfloat16 (run.frozen_dtype) and checkpointed blocks, resumed too.
  const std::string ppo_args = "--set run.stage=ppo" + command_args +
                               " --set ppo.rollout_batch_size=4 --set ppo.num_mini_batches=2"
                               " --set checkpoint.every_steps=1 --set run.frozen_dtype=bfloat16"
                               " --set train.gradient_checkpointing=true";
  ASSERT_EQ(run.lm("ppo", ppo_args, "INFALIGN_TEST_STOP_AFTER_STEP=2 ").exit_code, 143);
  const std::string cache = run.file("ppo", "calibration.cache");
  const std::string step2 = run.file("ppo", "checkpoints/step_00000002/policy.safetensors");
  fs::write_file_atomic(d + "/fail", "");
  const auto failed = run.lm("ppo", ppo_args);
  EXPECT_EQ(failed.exit_code, 1) << failed.err;
  EXPECT_NE(failed.err.find("reward.command `sh " + d + "/scorer.sh` exited with status 3"),
            std::string::npos)
      << failed.err;
  EXPECT_NE(failed.err.find("scorer: broken on purpose"), std::string::npos) << failed.err;
  EXPECT_EQ(run.file("ppo", "checkpoints/step_00000002/policy.safetensors"), step2);
  EXPECT_EQ(run.file("ppo", "calibration.cache"), cache);
  std::filesystem::remove(d + "/fail");
  const auto resumed = run.lm("ppo", ppo_args);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resumed from"), std::string::npos) << resumed.err;
  EXPECT_TRUE(std::filesystem::exists(d + "/ppo/final/model.safetensors"));

  // LoRA: adapters only train, the reference is the policy with them off; a run stopped after
  // iteration 2 and resumed ends where the straight one does (merged model, adapters, metrics).
  const std::string lora_args = "--set run.stage=ppo" + command_args +
                                " --set ppo.rollout_batch_size=4 --set ppo.num_mini_batches=2"
                                " --set checkpoint.every_steps=1 --set lora.rank=2"
                                " --set lora.alpha=4 --set ppo.policy_lr=5e-2";
  const auto lora = run.lm("lora", lora_args);
  ASSERT_EQ(lora.exit_code, 0) << lora.err;
  EXPECT_NE(lora.err.find("LoRA rank 2 (alpha 4)"), std::string::npos) << lora.err;
  ASSERT_EQ(run.lm("lora2", lora_args, "INFALIGN_TEST_STOP_AFTER_STEP=2 ").exit_code, 143);
  ASSERT_EQ(run.lm("lora2", lora_args).exit_code, 0);
  for (const char* f : {"final/model.safetensors", "final_adapter/adapter_model.safetensors",
                        "final_adapter/adapter_config.json"}) {
    EXPECT_EQ(run.file("lora2", f), run.file("lora", f)) << f;
  }
  EXPECT_EQ(without_timings(run.file("lora2", "metrics.jsonl")),
            without_timings(run.file("lora", "metrics.jsonl")));
  // The adapters trained: the merged policy is not the base.
  EXPECT_NE(run.file("lora", "final/model.safetensors"), run.file("lm", "model/model.safetensors"));
  EXPECT_NE(run.file("lora", "final_adapter/adapter_config.json").find("\"peft_type\": \"LORA\""),
            std::string::npos);

  // Evaluation with the program as a judge, on the JSONL prompts.
  const auto evaluated = run.eval(
      "--set eval.base_model=" + shell_quote(d + "/lm/model") +
      " --set reward.command=" + shell_quote("sh " + d + "/scorer.sh") +
      " --set eval.judges=[command] --set data.eval_prompts_file=" +
      shell_quote(d + "/prompts.jsonl") +
      " --set data.prompt_field=text --set eval.samples_per_prompt=4 --set eval.best_of_n=[1,2]"
      " --set eval.calibration_samples=0 --set eval.bootstrap_resamples=50 --set eval.output_dir=" +
      shell_quote(d + "/eval") + " --set " + shell_quote("eval.policies=[" + d + "/ppo]"));
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  const auto results = nlohmann::json::parse(run.file("eval", "results.json"));
  EXPECT_EQ(results.at("prompts"), 4);
  EXPECT_EQ(results.at("policies")[0].at("judges")[0].at("judge"), "command");
}

TEST(LmStageTest, BadDataFilesExitThreeNamingTheFileAndLine) {
  fs::TempDir dir;
  TinyLmRun run(dir.path());
  fs::write_file_atomic(dir.path() + "/valid.txt", "fine line\n\nanother\n");
  const auto result = run.lm("bad");
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find(dir.path() + "/valid.txt:2: empty record"), std::string::npos)
      << result.err;
}

TEST(TheoryCliTest, BestOfFourAtKlHalfAndTheBestT) {
  // Independently computed values (normalised exp, t = 10, at KL 0.5) and the best t of
  // docs/method.md section 6.
  const auto r = run_process(kEval + " theory --transform exp --t 10 --n 4 --kl 0.5 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_NEAR(j.at("bon").get<double>(), 0.8715, 1e-3);
  EXPECT_NEAR(j.at("standard").get<double>(), 0.7117, 1e-3);
  EXPECT_NEAR(j.at("won").get<double>(), 0.6763, 1e-3);
  EXPECT_NEAR(j.at("kl").get<double>(), 0.5, 1e-9);
  EXPECT_NEAR(j.at("beta").get<double>(), 0.3184, 1e-4);
  const auto best =
      run_process(kEval + " theory --optimize-t --n 4 --kl 0.5 --procedure bon --json");
  ASSERT_EQ(best.exit_code, 0) << best.err;
  const double t = nlohmann::json::parse(best.out).at("t").get<double>();
  EXPECT_GE(t, 11.0);
  EXPECT_LE(t, 14.0);
  // Text mode with the optimal reference rows.
  const auto text =
      run_process(kEval + " theory --transform negexp --t 9.68 --n 4 --kl 0.5 --optimal");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("worst-of-4    0.947"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("optimal worst-of-4: 0.9479"), std::string::npos) << text.out;
}

TEST(TheoryCliTest, SweepWritesCsvAndBadUsageExitsTwo) {
  const auto sweep = run_process(kEval + " theory --transform identity --n 2 --sweep-kl 0.1:1:4");
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  EXPECT_EQ(sweep.out.rfind("beta,kl,standard,bon_2,won_2\n", 0), 0u) << sweep.out;
  EXPECT_EQ(std::count(sweep.out.begin(), sweep.out.end(), '\n'), 5);
  EXPECT_NE(sweep.out.find(",0.4,"), std::string::npos) << sweep.out;  // KL 0.1, 0.4, 0.7, 1
  for (const char* bad : {" theory --transform exp --t 10", " theory --kl 0.5 --beta 0.2",
                          " theory --transform expo --kl 0.5", " theory --sweep-kl 1:0.5:3",
                          " theory --transform negexp --t -3 --kl 0.5"}) {
    const auto r = run_process(kEval + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << "\n" << r.err;
  }
  // infalign-eval without a subcommand still needs --config.
  EXPECT_EQ(run_process(kEval).exit_code, 2);
}

// The synthetic self-check: the oracle on uniform rewards agrees with the theory tool at the
// same transform and KL (eval's default candidate count), and bad sizes exit 2 with the reason.
TEST(OracleCliTest, SyntheticUniformAgreesWithTheTheoryTool) {
  for (const std::string transform : {"exp --t 12.63", "negexp --t 9.68", "identity"}) {
    const auto oracle = run_process(kEval + " oracle --synthetic uniform --transform " + transform +
                                    " --kl 0.5 --n 4 --prompts 2000 --seed 3 --json");
    ASSERT_EQ(oracle.exit_code, 0) << oracle.err;
    const auto theory =
        run_process(kEval + " theory --transform " + transform + " --kl 0.5 --n 4 --json");
    ASSERT_EQ(theory.exit_code, 0) << theory.err;
    const auto o = nlohmann::json::parse(oracle.out), t = nlohmann::json::parse(theory.out);
    EXPECT_NEAR(o.at("kl").get<double>(), 0.5, 1e-6);
    for (const char* key : {"standard", "bon", "won"}) {
      EXPECT_NEAR(o.at(key).get<double>(), t.at(key).get<double>(), 0.01)
          << transform << " " << key;
    }
  }
  for (const char* bad :
       {" oracle --synthetic uniform --kl 0.5 --candidates 1",  // nothing to calibrate against
        " oracle --synthetic uniform --kl 6 --candidates 64",   // beyond log 64
        " oracle --synthetic uniform --kl 0.5 --n 8 --opponents 4", " oracle --synthetic uniform",
        " oracle --synthetic normal --kl 0.5"}) {
    const auto r = run_process(kEval + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << "\n" << r.err;
    EXPECT_FALSE(r.err.empty()) << bad;
  }
}

// Two processes (scripts/launch.sh, Gloo on loopback) sharing each batch train the same model as
// one process with that batch, in stages lm, reward and ppo; a stopped two-process PPO run resumes
// exactly with two; a rank that dies makes the other exit with an error instead of hanging.
TEST(DataParallelTest, TwoProcessesMatchOneProcessResumeAndFailCleanly) {
  fs::TempDir dir;
  TinyLmRun run(dir.path());
  const std::string launch2 = "bash " + shell_quote(source_path("scripts/launch.sh")) + " -n 2 -- ";
  ASSERT_EQ(run.lm("lm").exit_code, 0);
  // Rank 0's final validation and export (a main-only phase) made 20 s slower, with an 8 s
  // collective timeout: rank 1 waits on rank 0's heartbeat instead of failing in a barrier.
  const auto lm2 = run.lm("lm2", "--set run.dist_timeout_seconds=8",
                          "INFALIGN_TEST_MAIN_ONLY_DELAY_MS=20000 " + launch2);
  ASSERT_EQ(lm2.exit_code, 0) << lm2.err;
  EXPECT_EQ(run.file("lm2", "train.rank1.log").find("failed"), std::string::npos)
      << run.file("lm2", "train.rank1.log");
  EXPECT_LT(max_abs_difference(dir.path() + "/lm/model/model.safetensors",
                               dir.path() + "/lm2/model/model.safetensors"),
            1e-5);
  write_syllable_lexicon_and_prompts(dir.path());
  const std::string reward_args = tiny_reward_args(dir.path());
  ASSERT_EQ(run.lm("rm", reward_args).exit_code, 0);
  const auto rm2 = run.lm("rm2", reward_args, launch2);
  ASSERT_EQ(rm2.exit_code, 0) << rm2.err;
  // The same losses step by step; the parameters agree to 1e-4 (Adam divides each gradient by its
  // own running scale, so a component whose gradient is nearly zero turns float summation-order
  // noise into steps of up to the learning rate: 4e-5 here after 6 steps at lr 1e-2, where the
  // model moved by 3e-2).
  const auto losses = [&](const std::string& name) {
    std::vector<double> out;
    std::istringstream in(run.file(name, "metrics.jsonl"));
    for (std::string line; std::getline(in, line);) {
      out.push_back(nlohmann::json::parse(line).at("train/loss").get<double>());
    }
    return out;
  };
  const std::vector<double> rm_losses = losses("rm"), rm2_losses = losses("rm2");
  ASSERT_EQ(rm_losses.size(), rm2_losses.size());
  for (std::size_t i = 0; i < rm_losses.size(); ++i) EXPECT_NEAR(rm_losses[i], rm2_losses[i], 1e-6);
  const std::string rm_one = dir.path() + "/rm/model/model.safetensors";
  EXPECT_LT(max_abs_difference(rm_one, dir.path() + "/rm2/model/model.safetensors"), 1e-4);
  EXPECT_GT(max_abs_difference(rm_one, dir.path() + "/lm/model/model.safetensors", true), 1e-3);
  const std::string ppo_args =
      "--set run.stage=ppo --set model.init_from=" + shell_quote(dir.path() + "/lm/model") +
      " --set reward.kind=gold --set reward.lexicon_path=" +
      shell_quote(dir.path() + "/lexicon.txt") +
      " --set data.train_prompts_file=" + shell_quote(dir.path() + "/prompts.txt") +
      " --set calibration.cache_path=" + shell_quote(dir.path() + "/cal.cache") +
      " --set calibration.report_prompts=0 --set ppo.rollout_batch_size=4"
      " --set ppo.num_mini_batches=2 --set ppo.policy_lr=1e-2 --set ppo.total_steps=4"
      " --set checkpoint.every_steps=2";
  // Stage calibrate, one chunk per prompt: two ranks build the same cache, byte for byte.
  const std::string cal_args =
      "--set run.stage=calibrate --set model.init_from=" + shell_quote(dir.path() + "/lm/model") +
      " --set reward.kind=gold --set reward.lexicon_path=" +
      shell_quote(dir.path() + "/lexicon.txt") +
      " --set data.train_prompts_file=" + shell_quote(dir.path() + "/prompts.txt") +
      " --set calibration.num_samples=8 --set calibration.chunk_prompts=1"
      " --set calibration.report_prompts=0";
  ASSERT_EQ(run.lm("cal", cal_args).exit_code, 0);
  const auto cal2 = run.lm("cal2", cal_args, launch2);
  ASSERT_EQ(cal2.exit_code, 0) << cal2.err;
  EXPECT_EQ(run.file("cal2", "calibration.cache"), run.file("cal", "calibration.cache"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/cal2/calibration.cache.partial"));

  // SIGTERM while rank 1, done with its chunks (1 and 3), waits in the barrier for a slow rank 0:
  // every rank exits 143 (rank 1 stops waiting; it does not fail on rank 0's exit), the chunks
  // built so far stay on disk and no cache is written; the rerun finishes the same cache.
  {
    const std::string partial = dir.path() + "/calterm/calibration.cache.partial";
    const std::string script =
        "export INFALIGN_TEST_RANK0_DELAY_MS=3000; " + launch2 + run.command("calterm", cal_args) +
        " >/dev/null 2>&1 & p=$!; " + "for i in $(seq 1200); do [ -f " +
        shell_quote(partial + "/chunk-000003.cal") +
        " ] && break; sleep 0.05; done; sleep 0.5; kill -TERM $p; wait $p; echo rc=$?";
    const auto stopped = run_process("bash -c " + shell_quote(script));
    EXPECT_NE(stopped.out.find("rc=143"), std::string::npos) << stopped.out << stopped.err;
    const std::string rank1_log = run.file("calterm", "train.rank1.log");
    EXPECT_EQ(rank1_log.find("failed"), std::string::npos) << rank1_log;
    EXPECT_NE(rank1_log.find("stopped by signal 15"), std::string::npos) << rank1_log;
    EXPECT_FALSE(std::filesystem::exists(dir.path() + "/calterm/calibration.cache"));
    EXPECT_TRUE(std::filesystem::exists(partial + "/chunk-000001.cal"));
    // The rerun as two "nodes" on the loopback: one process each (LOCAL_WORLD_SIZE 1), started
    // by hand as a cluster scheduler would, Gloo bound to GLOO_SOCKET_IFNAME=lo.
    const std::string node = run.command("calterm", cal_args) + " >/dev/null 2>&1";
    const std::string nodes =
        "export MASTER_ADDR=127.0.0.1 MASTER_PORT=$(python3 -c 'import socket; s=socket.socket(); "
        "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])') WORLD_SIZE=2 LOCAL_WORLD_SIZE=1 "
        "LOCAL_RANK=0 GLOO_SOCKET_IFNAME=lo; RANK=0 " +
        node + " & a=$!; RANK=1 " + node + " & b=$!; wait $a; ra=$?; wait $b; echo rc=$ra,$?";
    const auto rerun = run_process("bash -c " + shell_quote(nodes));
    ASSERT_NE(rerun.out.find("rc=0,0"), std::string::npos) << rerun.out << rerun.err;
    EXPECT_NE(run.file("calterm", "train.log").find("this rank binds interface lo"),
              std::string::npos);
    EXPECT_EQ(run.file("calterm", "calibration.cache"), run.file("cal", "calibration.cache"));
  }

  const auto one = run.lm("one", ppo_args);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const auto two = run.lm("two", ppo_args, launch2);
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_NE(two.err.find("[dist] 2 processes"), std::string::npos) << two.err;
  const std::string final_one = dir.path() + "/one/final/model.safetensors";
  const std::string final_two = dir.path() + "/two/final/model.safetensors";
  // The same parameters up to float summation order; training moved them far more than that.
  EXPECT_LT(max_abs_difference(final_one, final_two), 1e-5);
  EXPECT_GT(max_abs_difference(final_one, dir.path() + "/lm/model/model.safetensors"), 1e-3);
  {
    std::istringstream a(run.file("one", "metrics.jsonl")), b(run.file("two", "metrics.jsonl"));
    int lines = 0;
    for (std::string la, lb; std::getline(a, la) && std::getline(b, lb); ++lines) {
      const auto ja = nlohmann::json::parse(la), jb = nlohmann::json::parse(lb);
      EXPECT_EQ(ja.at("objective/calibrated_u"), jb.at("objective/calibrated_u")) << lines;
      EXPECT_NEAR(ja.at("objective/kl").get<double>(), jb.at("objective/kl").get<double>(), 1e-5);
      EXPECT_NEAR(ja.at("loss/policy_avg").get<double>(), jb.at("loss/policy_avg").get<double>(),
                  1e-5);
    }
    EXPECT_EQ(lines, 4);
  }
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/two/train.rank1.log"));
  // The critic-free estimators: a rank owns whole prompts' samples (2 of the 4 rows), the
  // per-prompt baselines come from the gathered batch; the same policy as one process.
  for (const char* estimator : {"rloo", "group"}) {
    const std::string args =
        ppo_args + " --set ppo.advantage=" + estimator + " --set ppo.samples_per_prompt=2";
    const std::string a = std::string("one_") + estimator, b = std::string("two_") + estimator;
    ASSERT_EQ(run.lm(a, args).exit_code, 0);
    const auto r2 = run.lm(b, args, launch2);
    ASSERT_EQ(r2.exit_code, 0) << r2.err;
    const std::string fa = dir.path() + "/" + a + "/final/model.safetensors";
    EXPECT_LT(max_abs_difference(fa, dir.path() + "/" + b + "/final/model.safetensors"), 1e-5)
        << estimator;
    EXPECT_GT(max_abs_difference(fa, dir.path() + "/lm/model/model.safetensors"), 1e-3);
  }

  // infalign-eval over 3 prompts, 2 ranks (2 + 1 prompts): the same numbers as one process.
  const std::string eval_args =
      "--set eval.base_model=" + shell_quote(dir.path() + "/lm/model") + " --set eval.policies=[" +
      dir.path() +
      "/one] --set eval.judges=[gold]"
      " --set reward.lexicon_path=" +
      shell_quote(dir.path() + "/lexicon.txt") +
      " --set data.eval_prompts_file=" + shell_quote(dir.path() + "/prompts.txt") +
      " --set eval.num_prompts=3 --set eval.plot=false --set eval.calibration_samples=6"
      " --set oracle.enabled=true --set oracle.kl_points=[0.2]";
  const auto eval1 =
      run.eval(eval_args + " --set eval.output_dir=" + shell_quote(dir.path() + "/e1"));
  ASSERT_EQ(eval1.exit_code, 0) << eval1.err;
  const auto eval2 =
      run.eval(eval_args + " --set eval.output_dir=" + shell_quote(dir.path() + "/e2"), launch2);
  ASSERT_EQ(eval2.exit_code, 0) << eval2.err;
  const std::string csv1 = fs::read_file(dir.path() + "/e1/results.csv");
  EXPECT_EQ(fs::read_file(dir.path() + "/e2/results.csv"), csv1);
  EXPECT_NE(csv1.find("one,gold,best_of_n,4,"), std::string::npos) << csv1;
  EXPECT_EQ(fs::read_file(dir.path() + "/e2/oracle.csv"),
            fs::read_file(dir.path() + "/e1/oracle.csv"));
  // Each rank wrote its prompts' records; rank 0 joined them in prompt order.
  EXPECT_EQ(fs::gzip_decompress(fs::read_file(dir.path() + "/e2/samples.jsonl.gz"), "e2"),
            fs::gzip_decompress(fs::read_file(dir.path() + "/e1/samples.jsonl.gz"), "e1"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/e2/samples.jsonl.gz.rank1"));
  // SIGTERM while rank 1, done with its prompt, waits in a collective for a slow rank 0: both
  // ranks exit 143, nothing is written as results, and the rerun gives the same numbers.
  {
    const std::string out = dir.path() + "/e3";
    const std::string script =
        "export INFALIGN_TEST_RANK0_DELAY_MS=2500; " + launch2 +
        run.eval_command(eval_args + " --set eval.output_dir=" + shell_quote(out)) +
        " >/dev/null 2>&1 & p=$!; " + "for i in $(seq 1200); do grep -q 'calibration samples' " +
        shell_quote(out + "/eval.log") +
        " 2>/dev/null && break; sleep 0.05; done; sleep 2; kill -TERM $p; wait $p; echo rc=$?";
    const auto stopped = run_process("bash -c " + shell_quote(script));
    EXPECT_NE(stopped.out.find("rc=143"), std::string::npos) << stopped.out << stopped.err;
    const std::string rank1_log = fs::read_file(out + "/eval.rank1.log");
    EXPECT_EQ(rank1_log.find("failed"), std::string::npos) << rank1_log;
    EXPECT_NE(rank1_log.find("stopped by signal 15"), std::string::npos) << rank1_log;
    EXPECT_FALSE(std::filesystem::exists(out + "/results.csv"));
    const auto rerun = run.eval(eval_args + " --set eval.output_dir=" + shell_quote(out), launch2);
    ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
    EXPECT_EQ(fs::read_file(out + "/results.csv"), csv1);
  }

  // Stopped after iteration 3 (every rank), restarted with two processes: the same policy.
  ASSERT_EQ(run.lm("two_resumed", ppo_args, "INFALIGN_TEST_STOP_AFTER_STEP=3 " + launch2).exit_code,
            143);
  const auto resumed = run.lm("two_resumed", ppo_args, launch2);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(run.file("two_resumed", "final/model.safetensors"),
            run.file("two", "final/model.safetensors"));

  // Rank 1 killed (SIGKILL) mid-run: rank 0 exits non-zero at its next collective, naming the
  // cause.
  const int port = 20000 + static_cast<int>(::getpid() % 20000);
  const std::string script =
      "cd " + shell_quote(dir.path()) +
      " && export WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 "
      "MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
      std::to_string(port) + " && " + "{ RANK=1 LOCAL_RANK=1 " +
      run.command("killed", ppo_args +
                                " --set ppo.total_steps=100000"
                                " --set run.dist_timeout_seconds=60") +
      " >/dev/null 2>&1 & p1=$!; } && " + "{ RANK=0 LOCAL_RANK=0 " +
      run.command("killed", ppo_args +
                                " --set ppo.total_steps=100000"
                                " --set run.dist_timeout_seconds=60") +
      " & p0=$!; } && " +
      "for i in $(seq 600); do [ -s killed/metrics.jsonl ] && break; sleep 0.1; done; "
      "kill -9 $p1; start=$(date +%s); wait $p0; rc=$?; "
      "echo \"rc=$rc seconds=$(( $(date +%s) - start ))\"";
  const auto killed = run_process("bash -c " + shell_quote(script));
  EXPECT_NE(killed.out.find("rc=1 "), std::string::npos) << killed.out << killed.err;
  const auto at = killed.out.find("seconds=");
  ASSERT_NE(at, std::string::npos) << killed.out;
  EXPECT_LT(std::stoi(killed.out.substr(at + 8)), 30) << killed.out;
  EXPECT_NE(killed.err.find("another rank exited"), std::string::npos) << killed.err;
}

}  // namespace
}  // namespace infalign
