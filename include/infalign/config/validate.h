// Semantic validation of a decoded config: ranges, cross-field rules, stage requirements, and
// (separately, because it touches the file system) the existence of a stage's input files.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "infalign/config/experiment_config.h"
#include "infalign/config/load.h"

namespace infalign::config {

struct ConfigIssue {
  std::string key;  // key path the message is about
  SourceLocation where;
  std::string message;  // "got 1.5, expected a value in (0, 1]"
  // "where: key: message"
  std::string str() const;
};

// Every rule broken by `config`; empty when valid. Locations come from `sources` when given.
std::vector<ConfigIssue> validate_config(const ExperimentConfig& config,
                                         const ConfigSources& sources = {});

// Whether a tokenizer path names a Hugging Face tokenizer.json (it ends in ".json"); otherwise it
// is a SentencePiece model. The one rule validation, loading and export all use.
bool is_tokenizer_json(std::string_view path);

// Throws ConfigError naming each input file of run.stage (or of `infalign-eval` when
// `for_eval`) that does not exist.
void check_input_files(const ExperimentConfig& config, const ConfigSources& sources,
                       bool for_eval = false);

}  // namespace infalign::config
