// Building the embedded default experiment's data directory from Debian/npm package files
// (run by scripts/prepare_data.sh through `infalign-data prepare`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace infalign::data {

struct PrepareOptions {
  std::vector<std::string> fortune_dirs;  // directories holding fortune topic files
  std::vector<std::string> exclude_topics = {"ethnic", "men-women", "drugs", "politics",
                                             "art",    "ascii-art"};  // edgy or not prose
  std::string profanity_list;         // word list (read_word_list); "" = no filter
  std::string lexicon;                // vader_lexicon.txt, copied to the output
  std::vector<std::string> uci_json;  // sentiment-labelled sentences ({text, class} arrays)
  std::string out_dir;
  std::uint64_t seed = 1234;
  std::size_t max_chars = 200;  // longer records are dropped
  std::size_t min_words = 3;    // shorter records are dropped
  double valid_fraction = 0.05;
  double test_fraction = 0.05;
  std::size_t train_prompts = 512;  // from the validation split (calibration and PPO)
  std::size_t eval_prompts = 256;   // from the test split (evaluation)
  std::size_t prompt_min_words = 4;
  std::size_t prompt_max_words = 8;
  std::size_t max_records = 0;  // keep at most this many records (0 = all), for tiny runs
};

struct PrepareReport {
  std::size_t files_read = 0, records_read = 0, dropped_length = 0, dropped_profanity = 0,
              dropped_duplicate = 0;
  std::size_t train = 0, valid = 0, test = 0, train_prompts = 0, eval_prompts = 0, uci = 0;
  std::size_t train_bytes = 0;
  // Human-readable summary, one line per item.
  std::string summary() const;
};

// Writes <out_dir>/{train,valid,test}.txt, prompts_{train,eval}.txt, vader_lexicon.txt,
// uci_sentences.tsv (label<TAB>domain<TAB>text) and manifest.json (counts and options).
// Throws DataError naming the file on bad input.
PrepareReport prepare_default_data(const PrepareOptions& options);

// The first k words of `text`, k in [min_words, max_words] chosen by a stable hash of the text;
// "" when the record is too short to leave at least 3 words to continue.
std::string make_prompt(std::string_view text, std::size_t min_words, std::size_t max_words,
                        std::uint64_t seed);

}  // namespace infalign::data
