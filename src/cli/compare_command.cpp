#include "compare_command.h"

#include <filesystem>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/eval/report.h"

namespace infalign::cli {

struct CompareCommand {
  CLI::App* sub = nullptr;
  std::vector<std::string> files;
};

CompareCommand* add_compare_command(CLI::App& app) {
  static CompareCommand command;  // lives as long as the parsed app
  command.sub = app.add_subcommand(
      "compare",
      "Side-by-side table of results.json files written by infalign-eval: every policy, judge, "
      "procedure and N, with the difference to the first column and '*' where the intervals "
      "do not overlap. Needs no config or model.");
  command.sub->add_option("results", command.files, "results.json files (at least one)")
      ->required();
  return &command;
}

bool compare_selected(const CompareCommand& command) {
  return command.sub != nullptr && command.sub->parsed();
}

int run_compare_command(const CompareCommand& command) {
  std::vector<std::pair<std::string, eval::EvalResults>> runs;
  for (const auto& file : command.files) {
    if (!std::filesystem::exists(file)) {
      throw DataError(file + ": no such file; expected a results.json written by infalign-eval");
    }
    runs.emplace_back(file, eval::parse_results(fs::read_file(file), file));
  }
  std::cout << eval::compare_table(runs) << std::flush;
  return kExitOk;
}

}  // namespace infalign::cli
