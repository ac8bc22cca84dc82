#include "infalign/data/text_corpus.h"

#include <cctype>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"

namespace infalign::data {

namespace {

std::string read_or_data_error(const std::string& path) {
  try {
    return fs::read_file(path);
  } catch (const Error& e) {
    throw DataError(e.what());
  }
}

// Length of the UTF-8 sequence starting at `s[i]`, or 0 when it is not valid UTF-8.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80           ? 1
                  : (c >> 5) == 0x6  ? 2
                  : (c >> 4) == 0xe  ? 3
                  : (c >> 3) == 0x1e ? 4
                                     : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 0;
  }
  return n;
}

// Calls fn(line_number, line) for every line of `text` (1-based numbers; '\n'-separated, a
// trailing '\r' dropped): the line walk of the one-record-per-line and JSONL readers.
template <class Fn>
void for_each_line(std::string_view text, Fn fn) {
  std::size_t start = 0, line_number = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(++line_number, line);
    start = end + 1;
  }
}

}  // namespace

std::string clean_record(std::string_view raw) {
  std::string joined;
  std::size_t start = 0;
  while (start <= raw.size()) {
    auto end = raw.find('\n', start);
    if (end == std::string_view::npos) end = raw.size();
    const std::string_view line = raw.substr(start, end - start);
    const auto first = line.find_first_not_of(" \t");
    const bool attribution = first != std::string_view::npos && line.substr(first, 2) == "--";
    if (!attribution) joined.append(line).push_back(' ');
    start = end + 1;
  }
  std::string out;
  bool space = false;
  for (char c : joined) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
    } else {
      if (space) out.push_back(' ');
      space = false;
      out.push_back(c);
    }
  }
  return out;
}

std::vector<std::string> read_fortune_file(const std::string& path) {
  const std::string text = read_or_data_error(path);
  std::vector<std::string> records;
  std::string block;
  std::istringstream in(text);
  auto flush = [&] {
    std::string r = clean_record(block);
    if (!r.empty()) records.push_back(std::move(r));
    block.clear();
  };
  for (std::string line; std::getline(in, line);) {
    if (line == "%") {
      flush();
    } else {
      block += line + "\n";
    }
  }
  flush();
  return records;
}

std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> words;
  std::string current;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '\'') {
      current.push_back(static_cast<char>(std::tolower(u)));
    } else if (!current.empty()) {
      words.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) words.push_back(std::move(current));
  return words;
}

bool contains_listed_word(std::string_view text, const std::unordered_set<std::string>& listed) {
  const auto words = words_of(text);
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (listed.count(words[i])) return true;
    if (i + 1 < words.size() && listed.count(words[i] + " " + words[i + 1])) return true;
  }
  return false;
}

std::unordered_set<std::string> read_word_list(const std::string& path) {
  std::unordered_set<std::string> words;
  std::istringstream in(read_or_data_error(path));
  for (std::string line; std::getline(in, line);) {
    const auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    const auto e = line.find_last_not_of(" \t\r");
    std::string w = line.substr(b, e - b + 1);
    for (char& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    words.insert(std::move(w));
  }
  return words;
}

double stable_fraction(std::string_view salt, std::string_view text) {
  fs::Sha256 h;
  h.update(salt);
  h.update(std::string_view("\0", 1));
  h.update(text);
  const std::string hex = h.hex_digest();
  const std::uint64_t top = std::stoull(hex.substr(0, 13), nullptr, 16);  // 52 bits
  return static_cast<double>(top) / static_cast<double>(std::uint64_t{1} << 52);
}

Split split_of(std::string_view text, std::uint64_t seed, double valid_fraction,
               double test_fraction) {
  const double u = stable_fraction(fmt::format("split:{}", seed), text);
  if (u < test_fraction) return Split::Test;
  if (u < test_fraction + valid_fraction) return Split::Valid;
  return Split::Train;
}

std::vector<std::string> read_records(const std::string& path) {
  const std::string text = read_or_data_error(path);
  if (text.empty())
    throw DataError(fmt::format("{}: the file is empty; expected one record per line", path));
  std::vector<std::string> records;
  for_each_line(text, [&](std::size_t line_number, std::string_view line) {
    if (line.find_first_not_of(" \t") == std::string_view::npos) {
      throw DataError(fmt::format("{}:{}: empty record; expected one non-empty record per line",
                                  path, line_number));
    }
    for (std::size_t i = 0; i < line.size();) {
      const std::size_t n = utf8_length(line, i);
      if (n == 0 || line[i] == '\0') {
        throw DataError(
            fmt::format("{}:{}: byte {} is not valid UTF-8 text", path, line_number, i + 1));
      }
      i += n;
    }
    records.emplace_back(line);
  });
  return records;
}

bool is_jsonl_path(std::string_view path) {
  constexpr std::string_view suffix = ".jsonl";
  return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
}

std::vector<std::vector<std::string>> read_jsonl_strings(const std::string& path,
                                                         const std::vector<std::string>& fields,
                                                         const std::string& what) {
  const std::string text = read_or_data_error(path);
  std::vector<std::vector<std::string>> records;
  for_each_line(text, [&](std::size_t line_number, std::string_view line) {
    if (line.find_first_not_of(" \t") == std::string_view::npos) return;  // blank lines skipped
    const auto where = [&] { return fmt::format("{}:{}", path, line_number); };
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw DataError(
          fmt::format("{}: not a JSON value ({}); a .jsonl file holds one JSON "
                      "object a line",
                      where(), e.what()));
    }
    if (!record.is_object()) {
      std::string shape;
      for (const auto& f : fields)
        shape += (shape.empty() ? "" : ", ") + fmt::format("\"{}\": \"...\"", f);
      throw DataError(fmt::format("{}: a JSON {} where an object {{{}}} was expected", where(),
                                  record.type_name(), shape));
    }
    std::vector<std::string> values;
    for (const auto& field : fields) {
      const auto it = record.find(field);
      if (it == record.end()) {
        std::string keys;
        for (const auto& item : record.items()) keys += (keys.empty() ? "" : ", ") + item.key();
        throw DataError(fmt::format("{}: no member \"{}\"{}; the object has {}", where(), field,
                                    what,
                                    keys.empty() ? std::string("no members") : "members " + keys));
      }
      if (!it->is_string()) {
        throw DataError(fmt::format("{}: member \"{}\" is a JSON {}; expected a string", where(),
                                    field, it->type_name()));
      }
      std::string value = it->get<std::string>();
      if (value.find_first_not_of(" \t\r\n") == std::string::npos) {
        throw DataError(
            fmt::format("{}: member \"{}\" is empty; expected non-empty text", where(), field));
      }
      if (value.find('\0') != std::string::npos) {
        throw DataError(fmt::format("{}: member \"{}\" holds a NUL character", where(), field));
      }
      values.push_back(std::move(value));
    }
    records.push_back(std::move(values));
  });
  if (records.empty()) {
    throw DataError(fmt::format("{}: no records; expected one JSON object a line", path));
  }
  return records;
}

std::vector<std::string> read_prompts(const std::string& path, const std::string& field) {
  if (!is_jsonl_path(path)) return read_records(path);
  std::vector<std::string> prompts;
  for (auto& record : read_jsonl_strings(path, {field}, " (data.prompt_field)")) {
    prompts.push_back(std::move(record[0]));
  }
  return prompts;
}

void write_records(const std::string& path, const std::vector<std::string>& records) {
  std::string out;
  for (const auto& r : records) {
    if (r.find('\n') != std::string::npos)
      throw Error(fmt::format("{}: a record holds a newline", path));
    out += r;
    out += '\n';
  }
  fs::write_file_atomic(path, out);
}

}  // namespace infalign::data
