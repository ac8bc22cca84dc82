#include "infalign/app/run.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "infalign/app/memory_plan.h"
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
#include "infalign/model/hf_io.h"
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
  const std::string core_advice =
      runtime::blas_core_advice(blas, runtime::cpu_has_avx2(), runtime::cpu_has_avx512f());
  if (!core_advice.empty() && device.is_cpu() && dist.rank == 0) {
    log::warn("[{}] {}", tag, core_advice);
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

// The shape of the model in `dir` when its config.json exists, else `fallback` (noted).
model::LlamaConfig shape_of(const std::string& dir, const model::LlamaConfig& fallback,
                            const std::string& what, std::vector<std::string>& notes) {
  if (!dir.empty() && std::filesystem::exists(std::filesystem::path(dir) / "config.json")) {
    return model::read_model_config(dir);
  }
  notes.push_back(
      fmt::format("{}: {} has no config.json yet, planned with the model section's "
                  "shape",
                  what, dir.empty() ? std::string("(none)") : dir));
  return fallback;
}

// The models' shapes this run will load, from their config.json files (the model section's
// shape where one does not exist yet).
ModelShapes model_shapes(const config::ExperimentConfig& cfg, bool for_eval,
                         std::vector<std::string>& notes) {
  const model::LlamaConfig fresh = model::llama_config_from(cfg.model, cfg.tokenizer);
  ModelShapes s;
  const bool fresh_lm =
      !for_eval && cfg.run.stage == config::Stage::Lm && cfg.model.init_from.empty();
  s.policy = fresh_lm   ? fresh
             : for_eval ? shape_of(cfg.eval.base_model, fresh, "eval.base_model", notes)
                        : shape_of(cfg.model.init_from, fresh, "model.init_from", notes);
  if (!for_eval && cfg.run.stage == config::Stage::Reward) {
    s.reward = s.policy;  // the reward model trained from model.init_from
  } else if (cfg.reward.kind == config::RewardKind::Model) {
    s.reward = shape_of(cfg.reward.model_path, s.policy, "reward.model_path", notes);
  }
  if (cfg.ppo.advantage == config::Advantage::Gae) {
    s.value =
        cfg.ppo.value_init == config::ValueInit::RewardModel && s.reward ? *s.reward : s.policy;
  }
  return s;
}

// The memory plan of this process: logged, and checked against the device's memory (or
// run.memory_limit_gib); a run that will not fit is refused unless run.memory_check is false.
// Returns the planned peak in bytes.
double check_memory(const config::LoadedConfig& loaded, bool for_eval, const runtime::DistEnv& env,
                    std::string_view tag) {
  const config::ExperimentConfig& cfg = loaded.config;
  if (!for_eval && cfg.run.stage == config::Stage::Tokenizer) return 0;  // no model
  const c10::Device device = runtime::resolve_device(cfg.run.device);
  std::vector<std::string> notes;
  const ModelShapes shapes = model_shapes(cfg, for_eval, notes);
  const HostMemory host = host_memory();
  // On a GPU the runtime's own share is the CUDA context and kernels (about 0.5 GiB, estimated).
  const double runtime = device.is_cuda() ? 0.5 * 1024 * 1024 * 1024 : host.rss;
  const MemoryPlan plan = plan_memory(cfg, for_eval, shapes, env.world_size, runtime);
  double limit = cfg.run.memory_limit_gib * 1024 * 1024 * 1024;
  std::string limit_source = "run.memory_limit_gib";
  if (limit <= 0) {
    if (device.is_cuda()) {
      limit = static_cast<double>(runtime::cuda_device_memory(device));
      limit_source = device.str() + "'s memory";
    } else {
      // The processes on this machine share its memory.
      limit =
          (host.available + host.rss * env.local_world_size) / std::max(1, env.local_world_size);
      limit_source =
          env.local_world_size > 1
              ? fmt::format("this machine's available memory / {} processes", env.local_world_size)
              : std::string("this machine's available memory");
    }
  }
  for (const auto& line : plan.lines()) log::info("[{}] memory: {}", tag, line);
  for (const auto& note : notes) log::info("[{}] memory: note: {}", tag, note);
  if (limit <= 0) {
    log::warn(
        "[{}] memory: the device's memory is unknown; set run.memory_limit_gib to check "
        "the plan against it",
        tag);
    return plan.peak_bytes();
  }
  const double peak = plan.peak_bytes();
  log::info("[{}] memory: {} of {} ({}) on {}", tag, format_bytes(peak), format_bytes(limit),
            limit_source, device.str());
  if (peak > limit) {
    const MemoryTerm& big = plan.peak().biggest();
    const std::string message = fmt::format(
        "{} will not fit: its planned peak is {} per process (phase '{}') and {} is {}. The "
        "biggest term is {} ({}){}. (run.memory_check: false starts it anyway; "
        "run.memory_limit_gib sets the memory to plan for.)",
        plan.job, format_bytes(peak), plan.peak().name, limit_source, format_bytes(limit), big.name,
        format_bytes(big.bytes),
        big.shrink.empty() ? std::string(": no option shrinks it; use a smaller model")
                           : "; shrink it with " + big.shrink);
    if (cfg.run.memory_check) throw ConfigError({"run.memory_check: " + message});
    log::warn("[{}] memory: {}", tag, message);
  }
  // Tight on memory: give freed heap memory back between phases (at the cost of faulting it in
  // again; docs/memory.md).
  if (peak > cfg.run.release_memory_above * limit) {
    set_release_free_memory(true);
    log::info(
        "[{}] memory: the plan is over {:.0f}% of {} (run.release_memory_above): freed heap "
        "memory goes back to the system between PPO phases",
        tag, 100 * cfg.run.release_memory_above, format_bytes(limit));
  }
  return peak;
}

// The measured peak against the plan, at the end of a run (CPU: the process's peak RSS).
void report_peak_memory(double planned, const config::ExperimentConfig& cfg, std::string_view tag) {
  if (planned <= 0 || runtime::resolve_device(cfg.run.device).is_cuda()) return;
  const double peak = host_memory().peak_rss;
  log::info("[{}] memory: peak RSS {} (plan {}, measured/plan {:.2f})", tag, format_bytes(peak),
            format_bytes(planned), peak / planned);
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
    check_memory(request.loaded, false, env, "run");
    return;
  }
  config::check_input_files(cfg, request.loaded.sources, false);
  const double planned = check_memory(request.loaded, false, env, "run");
  if (env.world_size > 1 && cfg.run.stage == config::Stage::Tokenizer) {
    throw ConfigError({fmt::format(
        "run.stage: tokenizer runs in one process (WORLD_SIZE is {}); start it without "
        "scripts/launch.sh",
        env.world_size)});
  }
  runtime::Distributed dist(env, runtime::resolve_device(cfg.run.device),
                            dist_timeout(cfg.run.dist_timeout_seconds));
  if (dist.active()) {
    log::info(
        "[dist] {} processes (gloo, store at {}:{}, this rank binds {}); rank 0 logs, "
        "checkpoints and exports",
        env.world_size, env.master_addr, env.master_port,
        runtime::gloo_interface_choice(env.master_addr, std::getenv("GLOO_SOCKET_IFNAME")));
  }
  switch (cfg.run.stage) {
    case config::Stage::Tokenizer:
      train_tokenizer(request.loaded);
      return;
    case config::Stage::Lm:
      train::train_lm(request.loaded, &dist);
      break;
    case config::Stage::Reward:
      train::train_reward_model(request.loaded, &dist);
      break;
    case config::Stage::Calibrate:
      calibration::run_calibrate_stage(request.loaded, &dist);
      break;
    case config::Stage::Ppo:
      ppo::train_ppo(request.loaded, &dist);
      break;
  }
  report_peak_memory(planned, cfg, "run");
}

void run_eval(const RunRequest& request) {
  const config::ExperimentConfig& cfg = request.loaded.config;
  const std::string out_dir =
      cfg.eval.output_dir.empty() ? cfg.run.run_dir + "/eval" : cfg.eval.output_dir;
  const runtime::DistEnv env = runtime::dist_env_from_environment();
  set_up(request.loaded, out_dir, "eval.log", "eval", env);
  if (request.check_only) {
    report_check(request.loaded, true, "eval");
    check_memory(request.loaded, true, env, "eval");
    return;
  }
  config::check_input_files(cfg, request.loaded.sources, true);
  const double planned = check_memory(request.loaded, true, env, "eval");
  runtime::Distributed dist(env, runtime::resolve_device(cfg.run.device),
                            dist_timeout(cfg.run.dist_timeout_seconds));
  if (dist.active()) {
    log::info(
        "[dist] {} processes (gloo over {}:{}), each sampling 1/{} of the prompts; rank 0 "
        "writes the results",
        env.world_size, env.master_addr, env.master_port, env.world_size);
  }
  eval::run_evaluation(request.loaded, out_dir, &dist, request.oracle_only);
  report_peak_memory(planned, cfg, "eval");
}

}  // namespace infalign::app
