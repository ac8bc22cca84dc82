#include "infalign/reward/vader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>
#include <unordered_set>

#include <fmt/format.h>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"

namespace infalign::reward {

namespace {

// Intensifiers (+1) and dampeners (-1): they scale the sentiment word after them.
const std::unordered_map<std::string, int>& boosters() {
  static const std::unordered_map<std::string, int> table = {
      {"absolutely", 1},    {"amazingly", 1},    {"awfully", 1},       {"completely", 1},
      {"considerably", 1},  {"decidedly", 1},    {"deeply", 1},        {"enormously", 1},
      {"entirely", 1},      {"especially", 1},   {"exceptionally", 1}, {"extremely", 1},
      {"fabulously", 1},    {"fully", 1},        {"greatly", 1},       {"highly", 1},
      {"hugely", 1},        {"incredibly", 1},   {"intensely", 1},     {"majorly", 1},
      {"more", 1},          {"most", 1},         {"particularly", 1},  {"purely", 1},
      {"quite", 1},         {"really", 1},       {"remarkably", 1},    {"so", 1},
      {"substantially", 1}, {"thoroughly", 1},   {"totally", 1},       {"tremendously", 1},
      {"truly", 1},         {"unbelievably", 1}, {"utterly", 1},       {"very", 1},
      {"almost", -1},       {"barely", -1},      {"hardly", -1},       {"less", -1},
      {"little", -1},       {"marginally", -1},  {"occasionally", -1}, {"partly", -1},
      {"scarcely", -1},     {"slightly", -1},    {"somewhat", -1}};
  return table;
}

bool is_negation(const std::string& lower) {
  static const std::unordered_set<std::string> words = {
      "not",      "no",     "never",   "none",   "nobody", "nothing", "nowhere", "neither",
      "nor",      "cannot", "without", "rarely", "seldom", "aint",    "dont",    "doesnt",
      "didnt",    "isnt",   "arent",   "wasnt",  "werent", "wont",    "wouldnt", "couldnt",
      "shouldnt", "cant",   "hasnt",   "havent", "hadnt",  "mightnt", "mustnt",  "neednt"};
  return words.count(lower) > 0 || lower.find("n't") != std::string::npos;
}

std::string to_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_all_caps(const std::string& s) {
  bool letter = false;
  for (unsigned char c : s) {
    if (std::islower(c)) return false;
    letter = letter || std::isupper(c);
  }
  return letter;
}

// Whitespace tokens with leading/trailing punctuation stripped; a token whose stripped form
// would be 2 characters or fewer keeps its punctuation (emoticons like ":)"); tokens of one
// character are dropped.
std::vector<std::string> tokenize(std::string_view text) {
  std::vector<std::string> tokens;
  std::istringstream in{std::string(text)};
  for (std::string raw; in >> raw;) {
    std::size_t b = 0, e = raw.size();
    while (b < e && std::ispunct(static_cast<unsigned char>(raw[b])) && raw[b] != '\'') ++b;
    while (e > b && std::ispunct(static_cast<unsigned char>(raw[e - 1])) && raw[e - 1] != '\'') --e;
    std::string token = (e - b <= 2) ? raw : raw.substr(b, e - b);
    if (token.size() > 1) tokens.push_back(std::move(token));
  }
  return tokens;
}

}  // namespace

VaderScorer::VaderScorer(std::unordered_map<std::string, double> lexicon, VaderConstants constants)
    : lexicon_(std::move(lexicon)), k_(constants) {}

VaderScorer VaderScorer::load(const std::string& path) {
  std::string text;
  try {
    text = fs::read_file(path);
  } catch (const Error& e) {
    throw DataError(fmt::format("{} (the gold judge's lexicon, reward.lexicon_path)", e.what()));
  }
  std::unordered_map<std::string, double> lexicon;
  std::istringstream in(text);
  std::size_t line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (line.empty()) continue;
    const auto tab = line.find('\t');
    const auto tab2 = tab == std::string::npos ? std::string::npos : line.find('\t', tab + 1);
    const std::string value = tab == std::string::npos ? "" : line.substr(tab + 1, tab2 - tab - 1);
    char* end = nullptr;
    const double v = value.empty() ? 0.0 : std::strtod(value.c_str(), &end);
    if (tab == 0 || tab == std::string::npos || value.empty() || end == nullptr || *end != '\0' ||
        !std::isfinite(v)) {
      throw DataError(fmt::format("{}:{}: expected `token<TAB>mean valence<TAB>...`; got '{}'",
                                  path, line_number, line.substr(0, 80)));
    }
    lexicon[line.substr(0, tab)] = v;
  }
  if (lexicon.empty()) throw DataError(fmt::format("{}: the lexicon is empty", path));
  return VaderScorer(std::move(lexicon), VaderConstants{});
}

std::vector<double> VaderScorer::valences(std::string_view text) const {
  const std::vector<std::string> tokens = tokenize(text);
  std::vector<std::string> lower;
  lower.reserve(tokens.size());
  bool any_caps = false, any_not_caps = false;
  for (const auto& t : tokens) {
    lower.push_back(to_lower(t));
    (is_all_caps(t) ? any_caps : any_not_caps) = true;
  }
  const bool mixed_caps = any_caps && any_not_caps;
  std::vector<double> out(tokens.size(), 0.0);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (boosters().count(lower[i])) continue;  // modifiers carry no sentiment of their own
    // "kind of" / "sort of" is a dampener phrase, not the sentiment word "kind".
    const bool hedge_word = (lower[i] == "kind" || lower[i] == "sort");
    if (hedge_word && i + 1 < lower.size() && lower[i + 1] == "of") continue;
    const auto it = lexicon_.find(lower[i]);
    if (it == lexicon_.end()) continue;
    double v = it->second;
    if (mixed_caps && is_all_caps(tokens[i])) v += v > 0 ? k_.all_caps : -k_.all_caps;
    // Up to three preceding words: boosters scale by distance (1, 0.95, 0.9); any negation flips.
    bool negated = false;
    for (std::size_t back = 1; back <= 3 && back <= i; ++back) {
      const std::string& w = lower[i - back];
      const bool hedge = w == "of" && i >= back + 1 &&
                         (lower[i - back - 1] == "kind" || lower[i - back - 1] == "sort");
      if (hedge) {
        // The phrase counts at the distance of its first word, as one dampener.
        const double step = v < 0 ? k_.booster : -k_.booster;
        v += step * (back == 1 ? 1.0 : back == 2 ? 0.95 : 0.9);
      } else if (const auto b = boosters().find(w); b != boosters().end()) {
        double step = k_.booster * b->second;
        if (v < 0) step = -step;
        if (mixed_caps && is_all_caps(tokens[i - back]))
          step += step > 0 ? k_.all_caps : -k_.all_caps;
        v += step * (back == 1 ? 1.0 : back == 2 ? 0.95 : 0.9);
      }
      if (is_negation(w)) negated = true;
    }
    if (negated) v *= k_.negation;
    out[i] = v;
  }
  // "but": what comes after it counts more than what came before.
  const auto but = std::find(lower.begin(), lower.end(), "but");
  if (but != lower.end()) {
    const auto at = static_cast<std::size_t>(but - lower.begin());
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (i < at) out[i] *= k_.before_but;
      if (i > at) out[i] *= k_.after_but;
    }
  }
  return out;
}

double VaderScorer::compound(std::string_view text) const {
  const std::vector<double> v = valences(text);
  double sum = 0;
  for (double x : v) sum += x;
  if (sum == 0) return 0.0;  // no sentiment: punctuation alone adds nothing
  const auto bangs = std::min<std::size_t>(4, std::count(text.begin(), text.end(), '!'));
  const auto questions = static_cast<std::size_t>(std::count(text.begin(), text.end(), '?'));
  double emphasis = static_cast<double>(bangs) * k_.exclamation;
  if (questions > 1)
    emphasis += questions <= 3 ? static_cast<double>(questions) * k_.question : 0.96;
  sum += sum > 0 ? emphasis : -emphasis;
  const double score = sum / std::sqrt(sum * sum + k_.normalization_alpha);
  return std::clamp(score, -1.0, 1.0);
}

}  // namespace infalign::reward
