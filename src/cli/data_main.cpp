// infalign-data: builds the default experiment's data directory from package files. Torch-free.
//   infalign-data prepare --fortunes DIR [--fortunes DIR] --out DIR [options]
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "infalign/core/error.h"
#include "infalign/core/logging.h"
#include "infalign/core/timer.h"
#include "infalign/data/prepare.h"

int main(int argc, char** argv) {
  using namespace infalign;
  CLI::App app(
      "infalign-data: prepares the embedded default experiment's corpus, splits and prompts",
      "infalign-data");
  app.require_subcommand(1);
  data::PrepareOptions o;
  auto* prepare = app.add_subcommand("prepare", "Build train/valid/test splits and prompt sets");
  prepare->add_option("--fortunes", o.fortune_dirs, "Directory of fortune files (repeatable)")
      ->required();
  prepare->add_option("--out", o.out_dir, "Output directory")->required();
  prepare->add_option("--exclude", o.exclude_topics, "Topic files to skip")->capture_default_str();
  prepare->add_option("--profanity", o.profanity_list, "Word list of records to drop");
  prepare->add_option("--lexicon", o.lexicon, "vader_lexicon.txt to copy next to the data");
  prepare->add_option("--uci", o.uci_json, "UCI sentiment JSON files (amazon, imdb, yelp)");
  prepare->add_option("--seed", o.seed, "Seed of the split and prompt choices")
      ->capture_default_str();
  prepare->add_option("--max-chars", o.max_chars, "Drop longer records")->capture_default_str();
  prepare->add_option("--max-records", o.max_records, "Keep at most this many records (0 = all)")
      ->capture_default_str();
  prepare->add_option("--train-prompts", o.train_prompts, "Prompts for calibration and PPO")
      ->capture_default_str();
  prepare->add_option("--eval-prompts", o.eval_prompts, "Prompts for evaluation")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitBadConfig;
  }
  try {
    Timer timer;
    const data::PrepareReport report = data::prepare_default_data(o);
    std::cout << "[data] wrote " << o.out_dir << " in " << timer.seconds() << " s\n"
              << report.summary() << "\n";
    return kExitOk;
  } catch (const std::exception& e) {
    for (const auto& line : exception_chain(e)) log::error("{}", line);
    return exit_code_for(e);
  }
}
