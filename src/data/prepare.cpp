#include "infalign/data/prepare.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/data/text_corpus.h"

namespace infalign::data {

namespace stdfs = std::filesystem;

std::string make_prompt(std::string_view text, std::size_t min_words, std::size_t max_words,
                        std::uint64_t seed) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b = text.find_first_not_of(' ', i);
    if (b == std::string_view::npos) break;
    auto e = text.find(' ', b);
    if (e == std::string_view::npos) e = text.size();
    words.push_back(text.substr(b, e - b));
    i = e;
  }
  const double u = stable_fraction(fmt::format("prompt:{}", seed), text);
  const std::size_t k =
      min_words + static_cast<std::size_t>(u * static_cast<double>(max_words - min_words + 1));
  if (words.size() < k + 3) return "";
  std::string prompt;
  for (std::size_t w = 0; w < k; ++w) prompt += (w ? " " : "") + std::string(words[w]);
  return prompt;
}

std::string PrepareReport::summary() const {
  return fmt::format(
      "fortune files read: {}\nrecords read: {}\ndropped (length): {}\ndropped (profanity): {}\n"
      "dropped (duplicate): {}\ntrain / valid / test records: {} / {} / {} (train {} bytes)\n"
      "prompts: {} for calibration and PPO, {} for evaluation\nUCI labelled sentences: {}",
      files_read, records_read, dropped_length, dropped_profanity, dropped_duplicate, train, valid,
      test, train_bytes, train_prompts, eval_prompts, uci);
}

PrepareReport prepare_default_data(const PrepareOptions& o) {
  PrepareReport report;
  // Topic files, in a stable order, without the fortune(6) index and symlink companions.
  std::vector<std::string> files;
  for (const auto& dir : o.fortune_dirs) {
    if (!stdfs::is_directory(dir))
      throw DataError(fmt::format("{}: not a directory of fortune files", dir));
    for (const auto& entry : stdfs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() || entry.is_symlink() || ext == ".dat" || ext == ".u8") continue;
      if (std::find(o.exclude_topics.begin(), o.exclude_topics.end(), name) !=
          o.exclude_topics.end())
        continue;
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw DataError("no fortune files found in the given directories");
  std::unordered_set<std::string> profanity;
  if (!o.profanity_list.empty()) profanity = read_word_list(o.profanity_list);

  std::vector<std::string> kept;
  std::unordered_set<std::string> seen;
  for (const auto& file : files) {
    ++report.files_read;
    for (auto& record : read_fortune_file(file)) {
      ++report.records_read;
      if (record.size() > o.max_chars || words_of(record).size() < o.min_words) {
        ++report.dropped_length;
      } else if (contains_listed_word(record, profanity)) {
        ++report.dropped_profanity;
      } else if (!seen.insert(record).second) {
        ++report.dropped_duplicate;
      } else {
        kept.push_back(std::move(record));
      }
    }
  }
  if (o.max_records > 0 && kept.size() > o.max_records) {
    // A stable subset: the records with the smallest seeded hashes.
    std::sort(kept.begin(), kept.end(), [&](const std::string& a, const std::string& b) {
      return stable_fraction(fmt::format("subset:{}", o.seed), a) <
             stable_fraction(fmt::format("subset:{}", o.seed), b);
    });
    kept.resize(o.max_records);
    std::sort(kept.begin(), kept.end());
  }
  std::vector<std::string> train, valid, test;
  for (auto& r : kept) {
    switch (split_of(r, o.seed, o.valid_fraction, o.test_fraction)) {
      case Split::Train:
        train.push_back(std::move(r));
        break;
      case Split::Valid:
        valid.push_back(std::move(r));
        break;
      case Split::Test:
        test.push_back(std::move(r));
        break;
    }
  }
  auto prompts_from = [&](const std::vector<std::string>& records, std::size_t limit) {
    std::vector<std::string> prompts;
    std::set<std::string> unique;
    for (const auto& r : records) {
      if (prompts.size() == limit) break;
      std::string p = make_prompt(r, o.prompt_min_words, o.prompt_max_words, o.seed);
      if (!p.empty() && unique.insert(p).second) prompts.push_back(std::move(p));
    }
    return prompts;
  };
  std::vector<std::string> train_prompts = prompts_from(valid, o.train_prompts);
  std::vector<std::string> eval_prompts = prompts_from(test, o.eval_prompts);
  // Disjoint by construction (different splits); equal prompt texts are removed from eval.
  const std::set<std::string> used(train_prompts.begin(), train_prompts.end());
  eval_prompts.erase(std::remove_if(eval_prompts.begin(), eval_prompts.end(),
                                    [&](const std::string& p) { return used.count(p) > 0; }),
                     eval_prompts.end());
  for (const auto* split : {&train, &valid, &test}) {
    if (split->empty()) {
      throw DataError(
          fmt::format("only {} records survived filtering: too few for train, "
                      "validation and test splits",
                      kept.size()));
    }
  }

  fs::create_directories(o.out_dir);
  write_records(o.out_dir + "/train.txt", train);
  write_records(o.out_dir + "/valid.txt", valid);
  write_records(o.out_dir + "/test.txt", test);
  write_records(o.out_dir + "/prompts_train.txt", train_prompts);
  write_records(o.out_dir + "/prompts_eval.txt", eval_prompts);
  if (!o.lexicon.empty()) {
    try {
      fs::write_file_atomic(o.out_dir + "/vader_lexicon.txt", fs::read_file(o.lexicon));
    } catch (const Error& e) {
      throw DataError(e.what());
    }
  }
  std::string uci;
  for (const auto& path : o.uci_json) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(fs::read_file(path));
    } catch (const std::exception& e) {
      throw DataError(fmt::format("{}: not a JSON array of {{text, class}}: {}", path, e.what()));
    }
    const std::string domain = stdfs::path(path).stem().string();
    for (const auto& item : j) {
      if (!item.is_object() || !item.contains("text") || !item["text"].is_string() ||
          !item.contains("class") || !item["class"].is_number_integer()) {
        continue;  // the placeholder element with empty text and null class
      }
      std::string text = clean_record(item["text"].get<std::string>());
      if (text.empty()) continue;
      uci += fmt::format("{}\t{}\t{}\n", item["class"].get<int>(), domain, text);
      ++report.uci;
    }
  }
  if (!o.uci_json.empty()) fs::write_file_atomic(o.out_dir + "/uci_sentences.tsv", uci);

  report.train = train.size();
  report.valid = valid.size();
  report.test = test.size();
  report.train_prompts = train_prompts.size();
  report.eval_prompts = eval_prompts.size();
  for (const auto& r : train) report.train_bytes += r.size() + 1;
  nlohmann::ordered_json manifest;
  manifest["seed"] = o.seed;
  manifest["max_chars"] = o.max_chars;
  manifest["excluded_topics"] = o.exclude_topics;
  manifest["files_read"] = report.files_read;
  manifest["records_read"] = report.records_read;
  manifest["dropped"] = {{"length", report.dropped_length},
                         {"profanity", report.dropped_profanity},
                         {"duplicate", report.dropped_duplicate}};
  manifest["splits"] = {{"train", report.train}, {"valid", report.valid}, {"test", report.test}};
  manifest["prompts"] = {{"train", report.train_prompts}, {"eval", report.eval_prompts}};
  manifest["uci_sentences"] = report.uci;
  fs::write_file_atomic(o.out_dir + "/manifest.json", manifest.dump(2) + "\n");
  return report;
}

}  // namespace infalign::data
