#include "infalign/app/run.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "infalign/calibration/builder.h"
#include "infalign/config/names.h"
#include "infalign/config/validate.h"
#include "infalign/core/build_info.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/core/logging.h"
#include "infalign/core/signals.h"
#include "infalign/core/timer.h"
#include "infalign/eval/evaluate.h"
#include "infalign/ppo/trainer.h"
#include "infalign/runtime/blas.h"
#include "infalign/runtime/device.h"
#include "infalign/runtime/distributed.h"
#include "infalign/runtime/probe.h"
#include "infalign/tokenizer/load.h"
#include "infalign/tokenizer/sentencepiece_tokenizer.h"
#include "infalign/train/lm_trainer.h"
#include "infalign/train/reward_trainer.h"

namespace infalign::app {

namespace {

log::Level to_log_level(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::Trace:
      return log::Level::Trace;
    case config::LogLevel::Debug:
      return log::Level::Debug;
    case config::LogLevel::Info:
      return log::Level::Info;
    case config::LogLevel::Warn:
      return log::Level::Warn;
    case config::LogLevel::Error:
      return log::Level::Error;
  }
  return log::Level::Info;
}

// Creates `dir`, starts logging to console (+ `dir/log_name`), writes config.resolved.yaml and
// logs the start-up banner.
void set_up(const config::LoadedConfig& loaded, const std::string& dir, const std::string& log_name,
            std::string_view tag, const runtime::DistEnv& dist = {}) {
  const config::ExperimentConfig& cfg = loaded.config;
  signals::install_stop_handlers();
  fs::create_directories(dir);
  // Ranks other than 0 print warnings and errors only, and log to train.rank<k>.log.
  std::string name = log_name;
  log::Level level = to_log_level(cfg.logging.level);
  if (dist.rank > 0) {
    name = fmt::format("{}.rank{}.log", log_name.substr(0, log_name.rfind('.')), dist.rank);
    level = std::max(level, log::Level::Warn);
  }
  const std::string log_path = cfg.logging.log_file ? dir + "/" + name : std::string();
  log::init_logging({level, log_path});

  const std::string resolved_path = dir + "/config.resolved.yaml";
  const std::string dump = config::dump_config(cfg);
  if (dist.rank == 0) fs::write_file_atomic(resolved_path, dump);

  runtime::tune_allocator();
  const int threads = runtime::configure_threads(cfg.run.threads, dist.local_world_size);
  const c10::Device device = runtime::resolve_device(cfg.run.device);
  log::info("[{}] infalign {} (git {}), run '{}'", tag, build_version(), build_git_hash(),
            cfg.run.name);
  log::info("[{}] {}", tag, runtime::describe_runtime());
  const runtime::BlasInfo blas = runtime::detect_blas();
  log::info("[{}] BLAS: {}", tag, blas.summary());
  if (blas.is_reference) {
    log::warn(
        "[{}] LibTorch runs on the reference BLAS, about 15x slower than OpenBLAS: install "
        "libopenblas0-openmp and select it (scripts/install_deps.sh does both)",
        tag);
  }
  log::info("[{}] device {}, dtype {}, {} thread(s), seed {}", tag, device.str(),
            config::enum_name(cfg.run.dtype), threads, cfg.run.seed);
  log::info("[{}] output {} ({})", tag, dir,
            log_path.empty() ? std::string("no log file") : "log " + log_path);
  log::info("[cfg] config {} (sha256 {}), resolved copy {}", loaded.sources.main_file,
            config::config_hash(cfg).substr(0, 12), resolved_path);
  if (!loaded.overlays.empty()) {
    log::info("[cfg] overlays merged over it: {}", fmt::join(loaded.overlays, ", "));
  }
  std::vector<std::string> changed;
  for (const auto& change : config::diff_configs(config::ExperimentConfig{}, cfg)) {
    changed.push_back(change.key + "=" + change.new_value);
  }
  log::info("[cfg] differs from defaults: {}",
            changed.empty() ? "nothing" : fmt::format("{}", fmt::join(changed, ", ")));
  log::debug("[cfg] resolved config:\n{}", dump);
}

// Stage tokenizer: SentencePiece on the training split, with the config's special ids.
void train_tokenizer(const config::LoadedConfig& loaded) {
  const config::ExperimentConfig& cfg = loaded.config;
  tokenizer::SentencePieceTrainOptions o;
  o.input_file = cfg.data.train_file;
  o.model_prefix =
      cfg.tokenizer.path.substr(0, cfg.tokenizer.path.size() - std::string(".model").size());
  o.vocab_size = cfg.tokenizer.vocab_size;
  o.model_type = cfg.tokenizer.model_type;
  o.character_coverage = cfg.tokenizer.character_coverage;
  o.unk_id = cfg.tokenizer.unk_id;
  o.bos_id = cfg.tokenizer.bos_id;
  o.eos_id = cfg.tokenizer.eos_id;
  o.pad_id = cfg.tokenizer.pad_id;
  const auto parent = std::filesystem::path(cfg.tokenizer.path).parent_path();
  if (!parent.empty()) fs::create_directories(parent.string());
  Timer timer;
  log::info("[data] training a {} SentencePiece model ({} pieces) on {}",
            config::enum_name(o.model_type), o.vocab_size, o.input_file);
  tokenizer::train_sentencepiece(o);
  const auto tok = tokenizer::load_configured_tokenizer(loaded);
  log::info(
      "[data] tokenizer {}: {} pieces, unk {} bos {} eos {} pad {} ({:.1f} s; trainer log "
      "{}.train.log)",
      cfg.tokenizer.path, tok->vocab_size(), tok->unk_id(), tok->bos_id(), tok->eos_id(),
      tok->pad_id(), timer.seconds(), o.model_prefix);
}

// Reports what a run would need, without failing on missing inputs.
void report_check(const config::LoadedConfig& loaded, bool for_eval, std::string_view tag) {
  const config::ExperimentConfig& cfg = loaded.config;
  const c10::Device device = runtime::resolve_device(cfg.run.device);
  for (const auto dtype : {c10::ScalarType::Float, c10::ScalarType::BFloat16}) {
    const auto probe = runtime::probe_matmul(512, dtype, device, 5);
    log::info("[{}] matmul 512^3 {} on {}: {:.1f} GFLOP/s", tag, c10::toString(dtype), device.str(),
              probe.gflops);
  }
  if (std::filesystem::exists(cfg.tokenizer.path)) {
    try {
      const auto tok = tokenizer::load_configured_tokenizer(loaded);
      const std::string sample = "A quick check of the tokenizer.";
      log::info("[{}] tokenizer {}: {} pieces; '{}' is {} tokens ({})", tag, cfg.tokenizer.path,
                tok->vocab_size(), sample, tok->encode(sample).size(),
                tokenizer::describe_tokenizer(cfg.tokenizer.path));
    } catch (const Error& e) {
      log::warn("[{}] not ready: {}", tag, e.what());
    }
  }
  try {
    config::check_input_files(cfg, loaded.sources, for_eval);
    log::info("[{}] every input file of {} exists", tag,
              for_eval ? std::string("infalign-eval")
                       : "stage " + std::string(config::enum_name(cfg.run.stage)));
  } catch (const ConfigError& e) {
    for (const auto& message : e.messages()) log::warn("[{}] not ready: {}", tag, message);
  }
  log::info("[{}] check finished: the config is valid and the runtime works", tag);
}

}  // namespace

namespace {
std::chrono::milliseconds dist_timeout(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
}
}  // namespace

void run_train(const RunRequest& request) {
  const config::ExperimentConfig& cfg = request.loaded.config;
  const runtime::DistEnv env = runtime::dist_env_from_environment();
  set_up(request.loaded, cfg.run.run_dir, "train.log", "run", env);
  if (request.check_only) {
    report_check(request.loaded, false, "run");
    return;
  }
  config::check_input_files(cfg, request.loaded.sources, false);
  if (env.world_size > 1 && cfg.run.stage == config::Stage::Tokenizer) {
    throw ConfigError({fmt::format(
        "run.stage: tokenizer runs in one process (WORLD_SIZE is {}); start it without "
        "scripts/launch.sh",
        env.world_size)});
  }
  runtime::Distributed dist(env, runtime::resolve_device(cfg.run.device),
                            dist_timeout(cfg.run.dist_timeout_seconds));
  if (dist.active()) {
    log::info("[dist] {} processes (gloo over {}:{}); rank 0 logs, checkpoints and exports",
              env.world_size, env.master_addr, env.master_port);
  }
  if (cfg.run.stage == config::Stage::Tokenizer) {
    train_tokenizer(request.loaded);
    return;
  }
  if (cfg.run.stage == config::Stage::Lm) {
    train::train_lm(request.loaded, &dist);
    return;
  }
  if (cfg.run.stage == config::Stage::Reward) {
    train::train_reward_model(request.loaded, &dist);
    return;
  }
  if (cfg.run.stage == config::Stage::Calibrate) {
    calibration::run_calibrate_stage(request.loaded, &dist);
    return;
  }
  ppo::train_ppo(request.loaded, &dist);
}

void run_eval(const RunRequest& request) {
  const config::ExperimentConfig& cfg = request.loaded.config;
  const std::string out_dir =
      cfg.eval.output_dir.empty() ? cfg.run.run_dir + "/eval" : cfg.eval.output_dir;
  const runtime::DistEnv env = runtime::dist_env_from_environment();
  set_up(request.loaded, out_dir, "eval.log", "eval", env);
  if (request.check_only) {
    report_check(request.loaded, true, "eval");
    return;
  }
  config::check_input_files(cfg, request.loaded.sources, true);
  runtime::Distributed dist(env, runtime::resolve_device(cfg.run.device),
                            dist_timeout(cfg.run.dist_timeout_seconds));
  if (dist.active()) {
    log::info(
        "[dist] {} processes (gloo over {}:{}), each sampling 1/{} of the prompts; rank 0 "
        "writes the results",
        env.world_size, env.master_addr, env.master_port, env.world_size);
  }
  eval::run_evaluation(request.loaded, out_dir, &dist, request.oracle_only);
}

}  // namespace infalign::app
