// Text records: reading the fortune files, cleaning and filtering records, the seeded split, and
// the one-record-per-line files every stage reads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace infalign::data {

// Records of a fortune(6) file: blocks separated by lines holding only `%`, each cleaned with
// clean_record; empty records are dropped. Throws DataError naming the file when unreadable.
std::vector<std::string> read_fortune_file(const std::string& path);

// One line of prose from a raw record: attribution lines (starting, after whitespace, with
// "--") removed, runs of whitespace collapsed to one space, trimmed.
std::string clean_record(std::string_view raw);

// Lower-case words of `text`: runs of letters, digits and apostrophes.
std::vector<std::string> words_of(std::string_view text);

// True when any word of `text` (or any adjacent word pair joined by a space) is in `listed`.
bool contains_listed_word(std::string_view text, const std::unordered_set<std::string>& listed);

// A word list: one entry per line, lower-cased; blank lines and lines starting with # skipped.
std::unordered_set<std::string> read_word_list(const std::string& path);

enum class Split { Train, Valid, Test };

// Stable split by a seeded hash of the record text: the same text lands in the same split for
// the same seed on every machine, whatever else the corpus holds.
Split split_of(std::string_view text, std::uint64_t seed, double valid_fraction,
               double test_fraction);

// A uniform number in [0, 1) from the SHA-256 of `salt` and `text` (stable across machines).
double stable_fraction(std::string_view salt, std::string_view text);

// Reads a one-record-per-line file. Every line must be non-empty valid UTF-8 without NUL bytes;
// otherwise DataError "<file>:<line>: ...". An empty file is an error too.
std::vector<std::string> read_records(const std::string& path);

// Prompts of a prompts file (data.train_prompts_file, data.eval_prompts_file). A file whose name
// ends in ".jsonl" holds one JSON object a line with the prompt in its string member `field`
// (data.prompt_field); such prompts may span several lines (chat templates, documents). Blank
// lines are skipped. Any other file is one prompt a line (read_records). Errors are DataError
// "<file>:<line>: ..." naming what was expected.
std::vector<std::string> read_prompts(const std::string& path, const std::string& field);

// The string members `fields` of every JSON object line of a JSONL file (blank lines skipped),
// in file order. Each member must be there and hold non-empty text without NUL; otherwise
// DataError "<file>:<line>: ..." (`what`, e.g. " (data.prompt_field)", follows a missing
// member's name). An empty file is an error too.
std::vector<std::vector<std::string>> read_jsonl_strings(const std::string& path,
                                                         const std::vector<std::string>& fields,
                                                         const std::string& what = "");

// True when `path` is read as JSONL by read_prompts.
bool is_jsonl_path(std::string_view path);

// Writes records one per line (atomically). Records must not contain newlines.
void write_records(const std::string& path, const std::vector<std::string>& records);

}  // namespace infalign::data
