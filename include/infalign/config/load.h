// Loading experiment configs from YAML, with every problem reported at once.
//
// Precedence, later wins: struct defaults < each `base:` fragment, in list order (each after its
// own bases; paths relative to the including file) < the experiment file itself < overlay files
// (`--overlay`, INFALIGN_CONFIG_OVERLAY), in order < `--set key.path=value` overrides, in
// command-line order. Maps merge key by key; any other value
// (scalar or list) replaces the earlier one whole.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "infalign/config/experiment_config.h"

namespace infalign::config {

// Where a value came from; line and column are 1-based, line 0 means "the whole file/argument".
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
  // "file:line:col", or "file" when line is 0, or "(default)" when file is empty.
  std::string str() const;
};

// Where each key path was set (`ppo.clip_range`, `ppo`, `eval.best_of_n`).
class ConfigSources {
 public:
  void set(const std::string& key_path, SourceLocation where);
  // The location of `key_path`, else of its nearest set ancestor, else the main file.
  SourceLocation locate(const std::string& key_path) const;
  bool has(const std::string& key_path) const { return locations_.count(key_path) > 0; }
  std::string main_file;

 private:
  std::map<std::string, SourceLocation> locations_;
};

struct LoadedConfig {
  ExperimentConfig config;
  ConfigSources sources;
  // Every file read: the main file after its bases, then the overlays.
  std::vector<std::string> files;
  // The overlay files merged over the main file, in order.
  std::vector<std::string> overlays;
};

// Reads, merges, decodes and validates. Throws ConfigError with all problems found, each as
// `file:line:col: key.path: what was found, what was expected`, sorted by key path.
// `overlays` are whole config files (with their own `base:`) merged over the experiment file, in
// order, before the overrides: a profile such as configs/profiles/tiny.yaml.
LoadedConfig load_experiment_config(const std::string& path,
                                    const std::vector<std::string>& overrides = {},
                                    const std::vector<std::string>& overlays = {});
// A config a run recorded (config.resolved.yaml), perhaps written by another version of
// infalign: as load_experiment_config, except that unknown sections and keys are skipped (their
// key paths go to `skipped`) instead of being errors.
LoadedConfig load_recorded_config(const std::string& path,
                                  std::vector<std::string>* skipped = nullptr);
// The same for YAML text; `name` is used in messages and its directory resolves `base:` paths.
LoadedConfig parse_experiment_config(std::string_view yaml, const std::string& name,
                                     const std::vector<std::string>& overrides = {});

// The fully resolved config as YAML: every section and field, loadable back to an equal config.
std::string dump_config(const ExperimentConfig& config);
// SHA-256 (hex) of dump_config: identifies a config in logs, checkpoints and results.
std::string config_hash(const ExperimentConfig& config);

struct ConfigChange {
  std::string key;
  std::string old_value;
  std::string new_value;
};
// The fields whose values differ, in dump order.
std::vector<ConfigChange> diff_configs(const ExperimentConfig& before,
                                       const ExperimentConfig& after);

// Every key path (`section.field`), in dump order.
std::vector<std::string> config_keys();

// Every (key path, exact value text) of `config`, in dump order: "ppo.kl_coef" -> "0.05".
std::vector<std::pair<std::string, std::string>> config_values(const ExperimentConfig& config);

}  // namespace infalign::config
