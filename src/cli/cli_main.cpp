#include "cli_main.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "infalign/app/run.h"
#include "infalign/config/load.h"
#include "infalign/config/names.h"
#include "infalign/core/build_info.h"
#include "infalign/core/error.h"
#include "infalign/core/logging.h"

#include "compare_command.h"
#include "oracle_command.h"
#include "theory_command.h"

namespace infalign::cli {

namespace {

constexpr const char* kTrainDescription =
    "infalign-train: runs one stage (tokenizer, lm, reward, calibrate, ppo) of an\n"
    "inference-aware alignment experiment described by a YAML config.";
constexpr const char* kEvalDescription =
    "infalign-eval: inference-time win rates (standard, best-of-N, worst-of-N) and KL of\n"
    "aligned policies against their base model.";
constexpr const char* kFooter =
    "Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage, 3 bad checkpoint, weights\n"
    "or data file, 130/143 stopped by SIGINT/SIGTERM (after saving).";

void print_error_lines(const std::string& headline, const std::vector<std::string>& lines) {
  log::error("{}", headline);
  for (const auto& line : lines) log::error("  {}", line);
}

// Logs the error once (console and log file) and returns its exit code.
int report_failure(const std::exception& e) {
  const int code = exit_code_for(e);
  if (const auto* config_error = dynamic_cast<const ConfigError*>(&e)) {
    const auto& messages = config_error->messages();
    print_error_lines(fmt::format("invalid config ({} problem{}):", messages.size(),
                                  messages.size() == 1 ? "" : "s"),
                      messages);
  } else if (code > kExitSignalBase) {
    log::warn("{}", e.what());
  } else {
    const char* headline = dynamic_cast<const UsageError*>(&e) != nullptr ? "usage:"
                           : code == kExitBadConfig    ? "invalid config or usage:"
                           : code == kExitBadInputFile ? "bad checkpoint, weights or data file:"
                                                       : "failed:";
    print_error_lines(headline, exception_chain(e));
  }
  log::flush();
  return code;
}

}  // namespace

int run_main(Tool tool, int argc, char** argv) {
  const bool train = tool == Tool::Train;
  CLI::App app(train ? kTrainDescription : kEvalDescription,
               train ? "infalign-train" : "infalign-eval");
  app.footer(kFooter);
  std::string config_path;
  std::vector<std::string> overrides;
  bool dump = false;
  bool check = false;
  std::string log_level;
  auto* config_option = app.add_option("-c,--config", config_path, "Experiment YAML file");
  TheoryCommand* theory = train ? nullptr : add_theory_command(app);
  CompareCommand* compare = train ? nullptr : add_compare_command(app);
  OracleCommand* oracle = train ? nullptr : add_oracle_command(app);
  std::vector<std::string> overlays;
  app.add_option("--overlay", overlays,
                 "A config file merged over the experiment file, before --set (repeatable), e.g. "
                 "--overlay configs/profiles/tiny.yaml; INFALIGN_CONFIG_OVERLAY (paths separated "
                 "by ':') adds overlays before these")
      ->allow_extra_args(false);
  app.add_option("--set", overrides,
                 "Override one value, key.path=value (repeatable), e.g. --set ppo.kl_coef=0.1")
      ->allow_extra_args(false);
  app.add_flag("--dump-config", dump,
               "Print the fully resolved config as YAML and exit (loads back to the same config)");
  app.add_flag("--check", check,
               "Validate, set up the output directory, report runtime, BLAS, throughput, missing "
               "inputs and the memory plan, without running (exit 2 when the run will not fit)");
  app.add_option("--log-level", log_level, "Overrides logging.level")
      ->check(CLI::IsMember(config::enum_names<config::LogLevel>()));
  app.set_version_flag("--version",
                       std::string(build_version()) + " (git " + build_git_hash() + ")");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitBadConfig;
  }
  if (theory != nullptr && theory_selected(*theory)) {
    try {
      return run_theory_command(*theory);
    } catch (const std::exception& e) {
      return report_failure(e);
    }
  }
  if (compare != nullptr && compare_selected(*compare)) {
    try {
      return run_compare_command(*compare);
    } catch (const std::exception& e) {
      return report_failure(e);
    }
  }
  const bool oracle_only = oracle != nullptr && oracle_selected(*oracle);
  if (oracle_only && oracle_is_synthetic(*oracle)) {
    try {
      return run_synthetic_oracle(*oracle);
    } catch (const std::exception& e) {
      return report_failure(e);
    }
  }
  if (config_option->count() == 0) {
    std::cerr << "--config is required\n" << app.help();
    return kExitBadConfig;
  }
  if (!log_level.empty()) overrides.push_back("logging.level=" + log_level);

  if (const char* env = std::getenv("INFALIGN_CONFIG_OVERLAY"); env != nullptr && *env != 0) {
    std::vector<std::string> from_env;
    std::string rest = env;
    for (std::size_t colon; (colon = rest.find(':')) != std::string::npos;) {
      if (colon > 0) from_env.push_back(rest.substr(0, colon));
      rest.erase(0, colon + 1);
    }
    if (!rest.empty()) from_env.push_back(rest);
    overlays.insert(overlays.begin(), from_env.begin(), from_env.end());
  }
  for (const auto& overlay : overlays) {
    if (!std::filesystem::is_regular_file(overlay)) {
      std::cerr << "[error] overlay config " << overlay
                << " (from --overlay or INFALIGN_CONFIG_OVERLAY) does not exist or is not a "
                   "file\n";
      return kExitBadConfig;
    }
  }

  try {
    app::RunRequest request{config::load_experiment_config(config_path, overrides, overlays), check,
                            oracle_only};
    if (dump) {
      std::cout << config::dump_config(request.loaded.config) << std::flush;
      return kExitOk;
    }
    if (train) {
      app::run_train(request);
    } else {
      app::run_eval(request);
    }
    return kExitOk;
  } catch (const std::exception& e) {
    return report_failure(e);
  }
}

}  // namespace infalign::cli
