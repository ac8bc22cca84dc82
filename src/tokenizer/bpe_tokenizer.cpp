#include "infalign/tokenizer/bpe_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <functional>
#include <mutex>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <pcre2.h>
#if INFALIGN_HAVE_ICU
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#endif

#include "infalign/core/error.h"
#include "infalign/core/fs.h"

namespace infalign::tokenizer {

using nlohmann::json;

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  constexpr std::string_view replacement = "\xEF\xBF\xBD";
  while (i < n) {
    const unsigned char c = b[i];
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    int need = 0;
    unsigned char lower = 0x80;
    unsigned char upper = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lower = 0xA0;
      if (c == 0xED) upper = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lower = 0x90;
      if (c == 0xF4) upper = 0x8F;
    } else {
      out.append(replacement);
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    int got = 0;
    while (got < need && j < n && b[j] >= lower && b[j] <= upper) {
      ++j;
      ++got;
      lower = 0x80;
      upper = 0xBF;
    }
    if (got == need) {
      out.append(s.substr(i, j - i));
    } else {
      out.append(replacement);  // the maximal subpart; the byte that broke it is read again
    }
    i = j;
  }
  return out;
}

namespace {

std::string utf8_of(char32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

// GPT-2's byte <-> printable character table: printable Latin-1 bytes stand for themselves, the
// other 68 bytes for U+0100 onwards in byte order.
struct ByteTable {
  std::array<std::string, 256> char_of_byte;
  std::unordered_map<char32_t, unsigned char> byte_of_char;
  ByteTable() {
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
      char_of_byte[b] = utf8_of(cp);
      byte_of_char[cp] = static_cast<unsigned char>(b);
    }
  }
};
const ByteTable& byte_table() {
  static const ByteTable table;
  return table;
}

// Decodes one code point of valid UTF-8 at s[i], advancing i.
char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k < len && i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  i += len;
  return cp;
}

// The GPT-2 pre-tokenizer pattern (ByteLevel with use_regex).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// `pattern` with \s and \S meaning Unicode White_Space, as in Oniguruma (the engine the Rust
// tokenizers compile tokenizer.json patterns with). PCRE2's own \s also takes U+180E, which
// Unicode no longer counts as a space. \Q...\E literals are left alone.
std::string oniguruma_spaces(const std::string& pattern) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '\\' || i + 1 == pattern.size()) {
      out += pattern[i];
      continue;
    }
    const char next = pattern[i + 1];
    if (next == 'Q') {
      const auto end = pattern.find("\\E", i + 2);
      const std::size_t stop = end == std::string::npos ? pattern.size() : end + 2;
      out.append(pattern, i, stop - i);
      i = stop - 1;
      continue;
    }
    out += next == 's'   ? "\\p{White_Space}"
           : next == 'S' ? "\\P{White_Space}"
                         : pattern.substr(i, 2);
    ++i;
  }
  return out;
}

// A compiled PCRE2 pattern (UTF, Unicode properties, Oniguruma's \s, JIT when available).
class Regex {
 public:
  Regex(const std::string& source, const std::string& where) {
    const std::string pattern = oniguruma_spaces(source);
    int error = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
    if (code_ == nullptr) {
      std::array<PCRE2_UCHAR, 256> message{};
      pcre2_get_error_message(error, message.data(), message.size());
      throw DataError(fmt::format("{}: regex \"{}\" does not compile with PCRE2 at offset {}: {}",
                                  where, source, offset,
                                  reinterpret_cast<const char*>(message.data())));
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
  }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  ~Regex() { pcre2_code_free(code_); }

  // [begin, end) byte ranges of the successive non-overlapping matches in `text` (valid UTF-8).
  std::vector<std::pair<std::size_t, std::size_t>> matches(std::string_view text) const {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_, nullptr);
    std::size_t start = 0;
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    while (start <= text.size()) {
      const int rc = pcre2_match(code_, subject, text.size(), start,
                                 start == 0 ? 0 : PCRE2_NO_UTF_CHECK, data, nullptr);
      if (rc < 0) break;  // PCRE2_ERROR_NOMATCH, or a match limit: the rest is one gap
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
      const std::size_t b = ov[0];
      const std::size_t e = ov[1];
      if (e > b) out.emplace_back(b, e);
      if (e > start) {
        start = e;
      } else {  // an empty match: step over one code point
        if (start >= text.size()) break;
        next_code_point(text, start);
      }
    }
    pcre2_match_data_free(data);
    return out;
  }

 private:
  pcre2_code* code_ = nullptr;
};

enum class NormalizerKind { Nfc, Nfd, Nfkc, Nfkd, Lowercase };

struct PreTokenizerStep {
  enum class Kind { Split, ByteLevel } kind;
  std::shared_ptr<Regex> regex;  // Split, or ByteLevel with use_regex
  bool remove_matches = false;   // Split behavior Removed (else Isolated)
  bool add_prefix_space = false;
};

struct AddedToken {
  std::int64_t id;
  std::string content;
  bool special;
  bool normalized;
  bool lstrip;
  bool rstrip;
};

// Longest-match-at-the-leftmost-position splitter over a set of strings (a byte trie).
class TokenSplitter {
 public:
  void add(const std::string& word, std::size_t index) {
    std::size_t node = 0;
    for (const unsigned char c : word) {
      auto it = nodes_[node].next.find(c);
      if (it == nodes_[node].next.end()) {
        nodes_.push_back({});
        it = nodes_[node].next.emplace(c, nodes_.size() - 1).first;
      }
      node = it->second;
    }
    nodes_[node].token = index;
    empty_ = false;
  }
  bool empty() const { return empty_; }
  // Pieces of `text`: (text, added token index or npos).
  std::vector<std::pair<std::string, std::size_t>> split(std::string_view text) const {
    std::vector<std::pair<std::string, std::size_t>> out;
    std::size_t start = 0;
    std::size_t i = 0;
    while (i < text.size()) {
      std::size_t node = 0;
      std::size_t match = npos;
      std::size_t match_end = i;
      for (std::size_t j = i; j < text.size(); ++j) {
        const auto it = nodes_[node].next.find(static_cast<unsigned char>(text[j]));
        if (it == nodes_[node].next.end()) break;
        node = it->second;
        if (nodes_[node].token != npos) {
          match = nodes_[node].token;
          match_end = j + 1;
        }
      }
      if (match == npos) {
        ++i;
        continue;
      }
      if (i > start) out.emplace_back(std::string(text.substr(start, i - start)), npos);
      out.emplace_back(std::string(text.substr(i, match_end - i)), match);
      i = start = match_end;
    }
    if (start < text.size()) out.emplace_back(std::string(text.substr(start)), npos);
    return out;
  }
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

 private:
  struct Node {
    std::unordered_map<unsigned char, std::size_t> next;
    std::size_t token = npos;
  };
  std::vector<Node> nodes_{Node{}};
  bool empty_ = true;
};

std::string trim_end(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}
std::string trim_start(std::string s) {
  std::size_t k = 0;
  while (k < s.size() && std::isspace(static_cast<unsigned char>(s[k]))) ++k;
  return s.substr(k);
}

// A token named in tokenizer_config.json: a string, or an object with "content".
std::string config_token_name(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  return {};
}

}  // namespace

struct ByteLevelBpeTokenizer::Impl {
  std::string path;
  std::vector<NormalizerKind> normalizers;
  std::vector<PreTokenizerStep> pre_tokenizers;
  std::unordered_map<std::string, std::int32_t> vocab;
  std::vector<std::string> piece_of_id;  // vocabulary and added tokens by id
  // (left << 32 | right) -> (rank, merged id)
  std::unordered_map<std::uint64_t, std::pair<std::int32_t, std::int32_t>> merges;
  bool ignore_merges = false;
  std::int64_t unk = -1;
  std::vector<AddedToken> added;
  std::unordered_map<std::int64_t, std::size_t> added_by_id;
  TokenSplitter raw_splitter;         // added tokens matched on the text as written
  TokenSplitter normalized_splitter;  // added tokens with normalized: true
  std::unordered_set<std::int64_t> skipped_in_decode;
  bool clean_up_spaces = false;
  std::unordered_map<std::string, std::int64_t> config_tokens;  // bos_token -> id, ...
  std::int64_t bos = -1;
  std::int64_t eos = -1;
  std::int64_t pad = -1;
  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<std::int32_t>> cache;

  // Id of an added or vocabulary token written as in tokenizer.json, or -1.
  std::int64_t token_id(std::string_view token) const {
    for (const AddedToken& t : added) {
      if (t.content == token) return t.id;
    }
    const auto it = vocab.find(std::string(token));
    return it == vocab.end() ? -1 : it->second;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw DataError(fmt::format("{}: {}", path, what));
  }

  std::string normalize(std::string text) const {
#if INFALIGN_HAVE_ICU
    for (const NormalizerKind kind : normalizers) {
      UErrorCode status = U_ZERO_ERROR;
      icu::UnicodeString u = icu::UnicodeString::fromUTF8(text);
      icu::UnicodeString result;
      if (kind == NormalizerKind::Lowercase) {
        result = u.toLower(icu::Locale::getRoot());
      } else {
        const icu::Normalizer2* n =
            kind == NormalizerKind::Nfc    ? icu::Normalizer2::getNFCInstance(status)
            : kind == NormalizerKind::Nfd  ? icu::Normalizer2::getNFDInstance(status)
            : kind == NormalizerKind::Nfkc ? icu::Normalizer2::getNFKCInstance(status)
                                           : icu::Normalizer2::getNFKDInstance(status);
        if (U_FAILURE(status))
          fail(fmt::format("ICU normalizer unavailable: {}", u_errorName(status)));
        result = n->normalize(u, status);
        if (U_FAILURE(status))
          fail(fmt::format("ICU normalization failed: {}", u_errorName(status)));
      }
      text.clear();
      result.toUTF8String(text);
    }
    return text;
#else
    if (!normalizers.empty()) fail("its normalizer needs ICU, which this build lacks (libicu-dev)");
    return text;
#endif
  }

  std::vector<std::string> pre_tokenize(const std::string& text) const {
    std::vector<std::string> pieces{text};
    const ByteTable& table = byte_table();
    for (const PreTokenizerStep& step : pre_tokenizers) {
      std::vector<std::string> next;
      for (std::string& piece : pieces) {
        if (step.kind == PreTokenizerStep::Kind::ByteLevel && step.add_prefix_space &&
            (piece.empty() || piece[0] != ' ')) {
          piece.insert(piece.begin(), ' ');
        }
        if (!step.regex) {
          next.push_back(std::move(piece));
          continue;
        }
        std::size_t at = 0;
        for (const auto& [b, e] : step.regex->matches(piece)) {
          if (b > at) next.push_back(piece.substr(at, b - at));
          if (!step.remove_matches) next.push_back(piece.substr(b, e - b));
          at = e;
        }
        if (at < piece.size()) next.push_back(piece.substr(at));
      }
      pieces = std::move(next);
      if (step.kind == PreTokenizerStep::Kind::ByteLevel) {
        for (std::string& piece : pieces) {
          std::string mapped;
          for (const unsigned char c : piece) mapped += table.char_of_byte[c];
          piece = std::move(mapped);
        }
      }
    }
    return pieces;
  }

  // BPE of one pre-tokenized word (in byte-level characters), appending ids to `out`.
  void bpe(const std::string& word, std::vector<std::int64_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges) {
      const auto it = vocab.find(word);
      if (it != vocab.end()) {
        out.push_back(it->second);
        return;
      }
    }
    const bool cacheable = word.size() < 256;
    if (cacheable) {
      std::lock_guard<std::mutex> lock(cache_mutex);
      const auto it = cache.find(word);
      if (it != cache.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    // Symbols: one per character of the word, as vocabulary ids (unknown ones: unk or dropped).
    struct Symbol {
      std::int32_t id;
      int prev;
      int next;
    };
    std::vector<Symbol> symbols;
    std::size_t i = 0;
    while (i < word.size()) {
      const std::size_t start = i;
      next_code_point(word, i);
      const auto it = vocab.find(word.substr(start, i - start));
      if (it != vocab.end()) {
        symbols.push_back({it->second, static_cast<int>(symbols.size()) - 1, 0});
      } else if (unk >= 0) {
        symbols.push_back(
            {static_cast<std::int32_t>(unk), static_cast<int>(symbols.size()) - 1, 0});
      }
    }
    for (std::size_t k = 0; k < symbols.size(); ++k) {
      symbols[k].next = k + 1 < symbols.size() ? static_cast<int>(k + 1) : -1;
    }
    struct Candidate {
      std::int32_t rank;
      int pos;
      std::int32_t merged;
      bool operator>(const Candidate& o) const {
        return rank != o.rank ? rank > o.rank : pos > o.pos;
      }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    const auto push = [&](int pos) {
      const int nx = symbols[pos].next;
      if (nx < 0) return;
      const auto it = merges.find(static_cast<std::uint64_t>(symbols[pos].id) << 32 |
                                  static_cast<std::uint32_t>(symbols[nx].id));
      if (it != merges.end()) queue.push({it->second.first, pos, it->second.second});
    };
    std::vector<bool> alive(symbols.size(), true);
    for (std::size_t k = 0; k + 1 < symbols.size(); ++k) push(static_cast<int>(k));
    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      if (!alive[top.pos]) continue;
      const int nx = symbols[top.pos].next;
      if (nx < 0) continue;
      const auto it = merges.find(static_cast<std::uint64_t>(symbols[top.pos].id) << 32 |
                                  static_cast<std::uint32_t>(symbols[nx].id));
      if (it == merges.end() || it->second.second != top.merged) continue;  // stale
      symbols[top.pos].id = top.merged;
      alive[nx] = false;
      symbols[top.pos].next = symbols[nx].next;
      if (symbols[nx].next >= 0) symbols[symbols[nx].next].prev = top.pos;
      if (symbols[top.pos].prev >= 0) push(symbols[top.pos].prev);
      push(top.pos);
    }
    std::vector<std::int32_t> ids;
    for (int k = symbols.empty() ? -1 : 0; k >= 0; k = symbols[k].next)
      ids.push_back(symbols[k].id);
    out.insert(out.end(), ids.begin(), ids.end());
    if (cacheable) {
      std::lock_guard<std::mutex> lock(cache_mutex);
      if (cache.size() >= 100000) cache.clear();
      cache.emplace(word, std::move(ids));
    }
  }

  void encode_section(const std::string& section, std::vector<std::int64_t>& out) const {
    for (const std::string& word : pre_tokenize(section)) bpe(word, out);
  }

  // Splits on added tokens, honouring lstrip/rstrip (they swallow the whitespace beside them).
  std::vector<std::pair<std::string, std::size_t>> split_added(const TokenSplitter& splitter,
                                                               const std::string& text) const {
    auto sections = splitter.split(text);
    for (std::size_t k = 0; k < sections.size(); ++k) {
      if (sections[k].second == TokenSplitter::npos) continue;
      const AddedToken& t = added[sections[k].second];
      if (t.lstrip && k > 0) sections[k - 1].first = trim_end(sections[k - 1].first);
      if (t.rstrip && k + 1 < sections.size()) {
        sections[k + 1].first = trim_start(sections[k + 1].first);
      }
    }
    return sections;
  }
};

ByteLevelBpeTokenizer::ByteLevelBpeTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ByteLevelBpeTokenizer::~ByteLevelBpeTokenizer() = default;

std::unique_ptr<ByteLevelBpeTokenizer> ByteLevelBpeTokenizer::load(const std::string& path) {
  try {
    return load_unguarded(path);
  } catch (const json::exception& e) {
    // A member of an unexpected type that a check above did not name (a DataError all the same).
    throw DataError(
        fmt::format("{}: unexpected JSON value ({}); expected a Hugging Face "
                    "tokenizer.json",
                    path, e.what()));
  }
}

std::unique_ptr<ByteLevelBpeTokenizer> ByteLevelBpeTokenizer::load_unguarded(
    const std::string& path) {
  auto impl = std::make_unique<Impl>();
  Impl& m = *impl;
  m.path = path;
  if (!std::filesystem::exists(path)) {
    throw DataError(
        fmt::format("{}: no such tokenizer file (expected a Hugging Face "
                    "tokenizer.json)",
                    path));
  }
  json j;
  try {
    j = json::parse(fs::read_file(path));
  } catch (const json::exception& e) {
    m.fail(
        fmt::format("not a JSON document ({}); expected a Hugging Face tokenizer.json", e.what()));
  }
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) {
    m.fail("no \"model\" object; expected a Hugging Face tokenizer.json");
  }
  const json& model = j["model"];
  const std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") {
    m.fail(
        fmt::format("model.type is \"{}\"; only byte-level BPE tokenizer.json files are read "
                    "(SentencePiece models: give the .model file instead)",
                    type));
  }
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      model["dropout"].get<double>() != 0.0) {
    m.fail("model.dropout is set; BPE dropout is not implemented (set it to null)");
  }
  if (model.value("byte_fallback", false)) {
    m.fail(
        "model.byte_fallback is true; that is a SentencePiece-style BPE, not byte-level "
        "(not implemented)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty()) {
      m.fail(fmt::format("model.{} is \"{}\"; only byte-level BPE without affixes is implemented",
                         key, model[key].get<std::string>()));
    }
  }
  m.ignore_merges = model.value("ignore_merges", false);
  if (!model.contains("vocab") || !model["vocab"].is_object())
    m.fail("model.vocab: expected an object");
  std::int64_t size = 0;
  // Ids index a table as long as the largest one: a sparse or huge id is refused rather than
  // allocated (found by fuzz_tokenizer_json). Real vocabularies have well under a million tokens.
  constexpr std::int64_t kMaxId = (1 << 24) - 1;
  for (const auto& [token, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > kMaxId) {
      m.fail(fmt::format("model.vocab[\"{}\"]: expected an integer id in [0, {}], got {}", token,
                         kMaxId, id.dump()));
    }
    m.vocab.emplace(token, id.get<std::int32_t>());
    size = std::max(size, id.get<std::int64_t>() + 1);
  }
  const json& added = j.contains("added_tokens") && j["added_tokens"].is_array() ? j["added_tokens"]
                                                                                 : json::array();
  for (const json& a : added) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
        a["id"].get<std::int64_t>() < 0 || a["id"].get<std::int64_t>() > kMaxId ||
        !a.contains("content") || !a["content"].is_string()) {
      m.fail(fmt::format(
          "added_tokens: every entry needs an integer \"id\" in [0, {}] and a string \"content\"",
          kMaxId));
    }
    m.added.push_back({a["id"].get<std::int64_t>(), a["content"].get<std::string>(),
                       a.value("special", false), a.value("normalized", false),
                       a.value("lstrip", false), a.value("rstrip", false)});
    size = std::max(size, m.added.back().id + 1);
  }
  m.piece_of_id.assign(static_cast<std::size_t>(size), std::string());
  for (const auto& [token, id] : m.vocab) m.piece_of_id[id] = token;

  // Merges: "a b" strings or ["a", "b"] pairs; rank = position.
  const json merges = model.contains("merges") ? model["merges"] : json::array();
  std::int32_t rank = 0;
  for (const json& merge : merges) {
    std::string left;
    std::string right;
    if (merge.is_string()) {
      const std::string s = merge.get<std::string>();
      const auto space = s.find(' ');
      if (space == std::string::npos)
        m.fail(fmt::format("model.merges[{}]: \"{}\" has no space", rank, s));
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      m.fail(fmt::format("model.merges[{}]: expected \"a b\" or [\"a\", \"b\"]", rank));
    }
    const auto l = m.vocab.find(left);
    const auto r = m.vocab.find(right);
    const auto joined = m.vocab.find(left + right);
    if (l == m.vocab.end() || r == m.vocab.end() || joined == m.vocab.end()) {
      m.fail(fmt::format("model.merges[{}]: \"{} {}\" names a token missing from model.vocab", rank,
                         left, right));
    }
    m.merges.emplace(
        static_cast<std::uint64_t>(l->second) << 32 | static_cast<std::uint32_t>(r->second),
        std::make_pair(rank, joined->second));
    ++rank;
  }
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const auto it = m.vocab.find(model["unk_token"].get<std::string>());
    if (it != m.vocab.end()) m.unk = it->second;
  }

  // Normalizer.
  std::function<void(const json&, const std::string&)> add_normalizer = [&](const json& n,
                                                                            const std::string& at) {
    if (n.is_null()) return;
    const std::string t = n.value("type", std::string());
    if (t == "Sequence") {
      // (A const json's operator[] on a missing key is undefined behaviour: check first.)
      if (!n.contains("normalizers") || !n["normalizers"].is_array()) {
        m.fail(fmt::format("{}.normalizers: expected a list", at));
      }
      for (std::size_t k = 0; k < n["normalizers"].size(); ++k) {
        add_normalizer(n["normalizers"][k], fmt::format("{}.normalizers[{}]", at, k));
      }
    } else if (t == "NFC") {
      m.normalizers.push_back(NormalizerKind::Nfc);
    } else if (t == "NFD") {
      m.normalizers.push_back(NormalizerKind::Nfd);
    } else if (t == "NFKC") {
      m.normalizers.push_back(NormalizerKind::Nfkc);
    } else if (t == "NFKD") {
      m.normalizers.push_back(NormalizerKind::Nfkd);
    } else if (t == "Lowercase") {
      m.normalizers.push_back(NormalizerKind::Lowercase);
    } else {
      m.fail(
          fmt::format("{}: normalizer type \"{}\" is not implemented (NFC, NFD, NFKC, NFKD, "
                      "Lowercase, Sequence are)",
                      at, t));
    }
  };
  add_normalizer(j.value("normalizer", json()), "normalizer");
#if !INFALIGN_HAVE_ICU
  if (!m.normalizers.empty()) {
    m.fail(
        "normalizer: Unicode normalizers need ICU, which this build lacks (install libicu-dev "
        "and rebuild)");
  }
#endif

  // Pre-tokenizers.
  bool byte_level = false;
  std::function<void(const json&, const std::string&)> add_pre = [&](const json& p,
                                                                     const std::string& at) {
    if (p.is_null()) return;
    const std::string t = p.value("type", std::string());
    if (t == "Sequence") {
      // (A const json's operator[] on a missing key is undefined behaviour: check first.)
      if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array()) {
        m.fail(fmt::format("{}.pretokenizers: expected a list", at));
      }
      for (std::size_t k = 0; k < p["pretokenizers"].size(); ++k) {
        add_pre(p["pretokenizers"][k], fmt::format("{}.pretokenizers[{}]", at, k));
      }
    } else if (t == "ByteLevel") {
      PreTokenizerStep step{PreTokenizerStep::Kind::ByteLevel, nullptr, false,
                            p.value("add_prefix_space", false)};
      if (p.value("use_regex", true)) step.regex = std::make_shared<Regex>(kGpt2Pattern, m.path);
      m.pre_tokenizers.push_back(std::move(step));
      byte_level = true;
    } else if (t == "Split") {
      if (p.value("invert", false)) m.fail(fmt::format("{}.invert: true is not implemented", at));
      const std::string behavior = p.value("behavior", std::string("Isolated"));
      if (behavior != "Isolated" && behavior != "Removed") {
        m.fail(fmt::format("{}.behavior: \"{}\" is not implemented (Isolated and Removed are)", at,
                           behavior));
      }
      const json& pattern = p.value("pattern", json());
      std::string regex;
      if (pattern.contains("Regex")) {
        regex = pattern["Regex"].get<std::string>();
      } else if (pattern.contains("String")) {
        for (const char c : pattern["String"].get<std::string>()) {  // the text, literally
          if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) regex += '\\';
          regex += c;
        }
      } else {
        m.fail(fmt::format("{}.pattern: expected {{\"Regex\": ...}} or {{\"String\": ...}}", at));
      }
      m.pre_tokenizers.push_back({PreTokenizerStep::Kind::Split,
                                  std::make_shared<Regex>(regex, m.path + ": " + at),
                                  behavior == "Removed", false});
    } else {
      m.fail(
          fmt::format("{}: pre-tokenizer type \"{}\" is not implemented (ByteLevel, Split, "
                      "Sequence are)",
                      at, t));
    }
  };
  add_pre(j.value("pre_tokenizer", json()), "pre_tokenizer");
  if (!byte_level) {
    m.fail(
        "pre_tokenizer has no ByteLevel step; only byte-level BPE tokenizer.json files are read");
  }
  const json& decoder = j.value("decoder", json());
  if (!decoder.is_null() && decoder.value("type", std::string()) != "ByteLevel") {
    m.fail(fmt::format("decoder.type is \"{}\"; only the ByteLevel decoder is implemented",
                       decoder.value("type", std::string())));
  }

  for (std::size_t k = 0; k < m.added.size(); ++k) {
    const AddedToken& t = m.added[k];
    m.added_by_id[t.id] = k;
    if (t.id >= 0 && t.id < size) m.piece_of_id[t.id] = t.content;
    if (t.special) m.skipped_in_decode.insert(t.id);
    if (t.normalized && !m.normalizers.empty()) {
      m.normalized_splitter.add(m.normalize(t.content), k);
    } else {
      m.raw_splitter.add(t.content, k);
    }
  }

  // tokenizer_config.json beside it: special token names and decoding options.
  const auto config_path =
      (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
  if (std::filesystem::exists(config_path)) {
    json c;
    try {
      c = json::parse(fs::read_file(config_path));
    } catch (const json::exception& e) {
      throw DataError(fmt::format("{}: not a JSON document ({})", config_path, e.what()));
    }
    const auto id_of = [&](const std::string& name) { return m.token_id(name); };
    for (const char* key : {"bos_token", "eos_token", "pad_token", "unk_token"}) {
      if (!c.contains(key)) continue;
      const std::string name = config_token_name(c[key]);
      if (name.empty()) continue;
      const std::int64_t id = id_of(name);
      if (id < 0) {
        throw DataError(
            fmt::format("{}: {} \"{}\" is not a token of {}", config_path, key, name, path));
      }
      m.config_tokens[key] = id;
    }
    if (c.contains("additional_special_tokens") && c["additional_special_tokens"].is_array()) {
      for (const json& name : c["additional_special_tokens"]) {
        const std::int64_t id = id_of(config_token_name(name));
        if (id >= 0) m.skipped_in_decode.insert(id);
      }
    }
    if (c.contains("clean_up_tokenization_spaces") &&
        c["clean_up_tokenization_spaces"].is_boolean()) {
      m.clean_up_spaces = c["clean_up_tokenization_spaces"].get<bool>();
    }
  }
  const auto named = [&](const char* key) {
    const auto it = m.config_tokens.find(key);
    return it == m.config_tokens.end() ? std::int64_t{-1} : it->second;
  };
  m.bos = named("bos_token");
  m.eos = named("eos_token");
  m.pad = named("pad_token");
  return std::unique_ptr<ByteLevelBpeTokenizer>(new ByteLevelBpeTokenizer(std::move(impl)));
}

std::vector<std::int64_t> ByteLevelBpeTokenizer::encode(std::string_view text) const {
  const Impl& m = *impl_;
  std::vector<std::int64_t> out;
  const std::string valid = sanitize_utf8(text);
  for (const auto& [section, token] : m.split_added(m.raw_splitter, valid)) {
    if (token != TokenSplitter::npos) {
      out.push_back(m.added[token].id);
      continue;
    }
    if (section.empty()) continue;
    const std::string normalized = m.normalize(section);
    if (m.normalized_splitter.empty()) {
      m.encode_section(normalized, out);
      continue;
    }
    for (const auto& [sub, sub_token] : m.split_added(m.normalized_splitter, normalized)) {
      if (sub_token != TokenSplitter::npos) {
        out.push_back(m.added[sub_token].id);
      } else if (!sub.empty()) {
        m.encode_section(sub, out);
      }
    }
  }
  return out;
}

std::string ByteLevelBpeTokenizer::decode(const std::vector<std::int64_t>& ids) const {
  const Impl& m = *impl_;
  const ByteTable& table = byte_table();
  std::string text;
  std::string bytes;  // byte-level run awaiting UTF-8 decoding
  const auto flush = [&] {
    text += sanitize_utf8(bytes);
    bytes.clear();
  };
  for (const std::int64_t id : ids) {
    if (id < 0 || id >= static_cast<std::int64_t>(m.piece_of_id.size())) continue;
    if (m.skipped_in_decode.count(id) != 0) continue;
    if (const auto added = m.added_by_id.find(id); added != m.added_by_id.end()) {
      flush();  // added tokens are written as they are
      text += m.added[added->second].content;
      continue;
    }
    const std::string& token = m.piece_of_id[id];
    std::string decoded;
    bool all_mapped = true;
    for (std::size_t i = 0; i < token.size();) {
      const auto it = table.byte_of_char.find(next_code_point(token, i));
      if (it == table.byte_of_char.end()) {
        all_mapped = false;
        break;
      }
      decoded.push_back(static_cast<char>(it->second));
    }
    bytes += all_mapped ? decoded : token;
  }
  flush();
  if (m.clean_up_spaces) {
    // transformers' clean_up_tokenization, in its order.
    const std::pair<std::string_view, std::string_view> rules[] = {
        {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : rules) {
      std::string next;
      std::size_t at = 0;
      for (std::size_t hit = text.find(from); hit != std::string::npos; hit = text.find(from, at)) {
        next.append(text, at, hit - at);
        next.append(to);
        at = hit + from.size();
      }
      next.append(text, at, std::string::npos);
      text = std::move(next);
    }
  }
  return text;
}

std::int64_t ByteLevelBpeTokenizer::vocab_size() const {
  return static_cast<std::int64_t>(impl_->piece_of_id.size());
}
std::int64_t ByteLevelBpeTokenizer::unk_id() const { return impl_->unk; }
std::int64_t ByteLevelBpeTokenizer::bos_id() const { return impl_->bos; }
std::int64_t ByteLevelBpeTokenizer::eos_id() const { return impl_->eos; }
std::int64_t ByteLevelBpeTokenizer::pad_id() const { return impl_->pad; }

std::string ByteLevelBpeTokenizer::piece(std::int64_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return impl_->piece_of_id[static_cast<std::size_t>(id)];
}

std::int64_t ByteLevelBpeTokenizer::token_id(std::string_view token) const {
  return impl_->token_id(token);
}

std::int64_t ByteLevelBpeTokenizer::config_token_id(std::string_view key) const {
  const auto it = impl_->config_tokens.find(std::string(key));
  return it == impl_->config_tokens.end() ? -1 : it->second;
}

bool ByteLevelBpeTokenizer::is_special(std::int64_t id) const {
  return impl_->skipped_in_decode.count(id) != 0;
}

void ByteLevelBpeTokenizer::set_special_ids(std::int64_t bos, std::int64_t eos, std::int64_t pad) {
  impl_->bos = bos;
  impl_->eos = eos;
  impl_->pad = pad;
}

const std::string& ByteLevelBpeTokenizer::path() const { return impl_->path; }

}  // namespace infalign::tokenizer
