// The tokenizer.json reader: merges, added tokens, normalizers and decoding on small vocabularies
// made here, its errors, and ids and text identical to the JavaScript reference
// (@huggingface/tokenizers, run by node) on real vocabularies (GPT-2, Llama 3, Qwen2.5, and the
// small ones derived from them) over more than 10,000 lines.
#include "infalign/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "infalign/config/load.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/tokenizer/load.h"

#include "paths.h"
#include "process.h"

namespace infalign::tokenizer {
namespace {

using nlohmann::json;
using testing::run_process;
using testing::shell_quote;

// UTF-8 of one code point (test-side, independent of the reader's).
std::string u8(char32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// The byte-level character of byte `b` (GPT-2's table, as the format defines it).
std::string byte_char(int b) {
  const auto printable = [](int x) {
    return (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174;
  };
  if (printable(b)) return u8(static_cast<char32_t>(b));
  int n = 0;
  for (int x = 0; x < b; ++x) n += printable(x) ? 0 : 1;
  return u8(static_cast<char32_t>(256 + n));
}

const std::string kSpace = byte_char(' ');  // "Ġ"

// A tokenizer.json: the 256 byte tokens (ids 0-255 in byte order), then `extra` tokens from
// id 256, the `merges` in rank order, and the added tokens <s> (300, special) and <x> (301, not
// special, swallowing whitespace on both sides).
json small_tokenizer(const std::vector<std::string>& extra, const std::vector<std::string>& merges,
                     bool ignore_merges = false) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  for (std::size_t k = 0; k < extra.size(); ++k) vocab[extra[k]] = 256 + static_cast<int>(k);
  json added = json::array();
  added.push_back({{"id", 300},
                   {"content", "<s>"},
                   {"special", true},
                   {"normalized", false},
                   {"lstrip", false},
                   {"rstrip", false},
                   {"single_word", false}});
  added.push_back({{"id", 301},
                   {"content", "<x>"},
                   {"special", false},
                   {"normalized", false},
                   {"lstrip", true},
                   {"rstrip", true},
                   {"single_word", false}});
  return {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"byte_fallback", false},
        {"ignore_merges", ignore_merges},
        {"vocab", vocab},
        {"merges", merges}}}};
}

class BpeTokenizerTest : public ::testing::Test {
 protected:
  // Writes `j` as <dir>/<name>/tokenizer.json (and `config` as tokenizer_config.json) and loads it.
  std::unique_ptr<ByteLevelBpeTokenizer> load(const json& j, const std::string& name = "t",
                                              const json& config = json()) {
    const std::string path = write(j, name, config);
    return ByteLevelBpeTokenizer::load(path);
  }
  std::string write(const json& j, const std::string& name, const json& config = json()) {
    fs::create_directories(dir_.path() + "/" + name);
    const std::string path = dir_.path() + "/" + name + "/tokenizer.json";
    fs::write_file_atomic(path, j.dump());
    if (!config.is_null()) {
      fs::write_file_atomic(dir_.path() + "/" + name + "/tokenizer_config.json", config.dump());
    }
    return path;
  }
  // The error message of loading `j`, or "" when it loads.
  std::string load_error(const json& j, const std::string& name) {
    try {
      load(j, name);
    } catch (const DataError& e) {
      return e.what();
    }
    return "";
  }
  fs::TempDir dir_{"bpe-test"};
};

TEST_F(BpeTokenizerTest, MergesApplyLowestRankFirstNotLeftToRight) {
  // " abc" is one pre-token: Ġ a b c. Rank order merges a+b, then ab+c; Ġ+a never applies.
  const std::vector<std::string> extra = {"ab", "abc", kSpace + "a"};
  auto tok = load(small_tokenizer(extra, {"a b", "ab c", kSpace + " a"}), "ranked");
  EXPECT_EQ(tok->encode(" abc"), (std::vector<std::int64_t>{' ', 257}));
  EXPECT_EQ(tok->decode(tok->encode(" abc")), " abc");
  // With Ġ+a ranked first the same text splits differently.
  auto other = load(small_tokenizer(extra, {kSpace + " a", "a b", "ab c"}), "reranked");
  EXPECT_EQ(other->encode(" abc"), (std::vector<std::int64_t>{258, 'b', 'c'}));
  // Pre-tokens are encoded separately: no merge across "ab" and " abc".
  EXPECT_EQ(tok->encode("ab abc"), (std::vector<std::int64_t>{256, ' ', 257}));
  EXPECT_EQ(tok->vocab_size(), 302);
  EXPECT_EQ(tok->piece(257), "abc");
  EXPECT_EQ(tok->token_id("abc"), 257);
  EXPECT_EQ(tok->token_id("<s>"), 300);
  EXPECT_EQ(tok->token_id("zzz"), -1);
}

TEST_F(BpeTokenizerTest, IgnoreMergesTakesAWholeWordFromTheVocabulary) {
  // "ba" is a token no merge makes: only ignore_merges (Llama 3) finds it.
  auto plain = load(small_tokenizer({"ba"}, {}), "plain");
  EXPECT_EQ(plain->encode("ba"), (std::vector<std::int64_t>{'b', 'a'}));
  auto whole = load(small_tokenizer({"ba"}, {}, /*ignore_merges=*/true), "whole");
  EXPECT_EQ(whole->encode("ba"), (std::vector<std::int64_t>{256}));
}

TEST_F(BpeTokenizerTest, AddedTokensSplitFirstAndSpecialOnesAreNotDecoded) {
  auto tok = load(small_tokenizer({"ab"}, {"a b"}), "added");
  // <s> in the text is its id; the text around it is encoded on its own.
  EXPECT_EQ(tok->encode("ab<s>b"), (std::vector<std::int64_t>{256, 300, 'b'}));
  EXPECT_EQ(tok->decode({256, 300, 'b'}), "abb");  // special: skipped
  EXPECT_TRUE(tok->is_special(300));
  EXPECT_FALSE(tok->is_special(301));
  // <x> swallows the spaces on both sides (lstrip, rstrip) and is written back as it is.
  EXPECT_EQ(tok->encode("a <x>  b"), (std::vector<std::int64_t>{'a', 301, 'b'}));
  EXPECT_EQ(tok->decode({'a', 301, 'b'}), "a<x>b");
  // Ids outside the vocabulary give no text.
  EXPECT_EQ(tok->decode({'a', 5000, -1, 'b'}), "ab");
}

TEST_F(BpeTokenizerTest, DecodingReplacesBrokenUtf8AsTheWhatwgDecoderDoes) {
  auto tok = load(small_tokenizer({}, {}), "bytes");
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(tok->decode({0xC3, 0xA9}), "\xC3\xA9");  // é from its two byte tokens
  EXPECT_EQ(tok->decode({0xC3}), replacement);       // a lead byte alone
  EXPECT_EQ(tok->decode({0xC3, 'a'}), replacement + "a");
  EXPECT_EQ(tok->encode("\xC3\xA9"), (std::vector<std::int64_t>{0xC3, 0xA9}));
  // One U+FFFD per maximal subpart, as Python's errors="replace" and TextDecoder give.
  EXPECT_EQ(sanitize_utf8("\xF0\x9F\x98"), replacement);  // a truncated emoji
  EXPECT_EQ(sanitize_utf8("\xF0\x9F\x98!"), replacement + "!");
  EXPECT_EQ(sanitize_utf8("\xE0\x80"), replacement + replacement);  // overlong: 2 parts
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), replacement + replacement + replacement);  // surrogate
  EXPECT_EQ(sanitize_utf8("\xFF"
                          "a"),
            replacement + "a");
  EXPECT_EQ(sanitize_utf8("ok \xF0\x9F\x98\x80"), "ok \xF0\x9F\x98\x80");
  // Invalid input text is read as U+FFFD (its three bytes).
  EXPECT_EQ(tok->encode("\xFF"), (std::vector<std::int64_t>{0xEF, 0xBF, 0xBD}));
}

TEST_F(BpeTokenizerTest, TheNormalizerRunsBeforeThePreTokenizer) {
  json j = small_tokenizer({}, {});
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers", json::array({{{"type", "NFC"}}, {{"type", "Lowercase"}}})}};
  if (load_error(j, "nfc-probe").find("needs ICU") != std::string::npos) {
    GTEST_SKIP() << "this build has no ICU (libicu-dev): normalizers are refused, as tested there";
  }
  auto tok = load(j, "nfc");
  // e + combining acute composes to é (C3 A9); capitals are lowered.
  EXPECT_EQ(tok->encode("E\xCC\x81"), (std::vector<std::int64_t>{0xC3, 0xA9}));
  EXPECT_EQ(tok->encode("AB"), tok->encode("ab"));
  // A Split step ahead of ByteLevel (the Llama 3 layout): digits in runs of at most 3.
  json split = small_tokenizer({}, {});
  split["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array({{{"type", "Split"},
                     {"pattern", {{"Regex", "\\p{N}{1,3}"}}},
                     {"behavior", "Isolated"},
                     {"invert", false}},
                    {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
  split["model"]["vocab"]["12"] = 256;
  split["model"]["vocab"]["123"] = 257;
  split["model"]["merges"] = {"1 2", "12 3"};
  auto digits = load(split, "digits");
  EXPECT_EQ(digits->encode("1234"), (std::vector<std::int64_t>{257, '4'}));
}

TEST_F(BpeTokenizerTest, WhatItCannotReadIsAnErrorNamingTheFileAndField) {
  EXPECT_NE(load_error(json{{"model", {{"type", "WordPiece"}}}}, "wp")
                .find("model.type is \"WordPiece\""),
            std::string::npos);
  json precompiled = small_tokenizer({}, {});
  precompiled["normalizer"] = {{"type", "Precompiled"}};
  const std::string n = load_error(precompiled, "precompiled");
  EXPECT_NE(n.find("precompiled/tokenizer.json: normalizer: normalizer type \"Precompiled\""),
            std::string::npos)
      << n;
  json bad_merge = small_tokenizer({}, {"a q9"});
  EXPECT_NE(load_error(bad_merge, "merge").find("model.merges[0]: \"a q9\""), std::string::npos);
  json bad_regex = small_tokenizer({}, {});
  bad_regex["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(["}}}};
  EXPECT_NE(load_error(bad_regex, "regex").find("does not compile with PCRE2"), std::string::npos);
  json no_byte_level = small_tokenizer({}, {});
  no_byte_level["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", " "}}}};
  EXPECT_NE(load_error(no_byte_level, "nobl").find("no ByteLevel step"), std::string::npos);
  json merged = small_tokenizer({}, {});
  merged["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "MergedWithNext"}};
  EXPECT_NE(load_error(merged, "mwn").find("behavior: \"MergedWithNext\" is not implemented"),
            std::string::npos);
  fs::create_directories(dir_.path() + "/garbage");
  fs::write_file_atomic(dir_.path() + "/garbage/tokenizer.json", "{not json");
  try {
    ByteLevelBpeTokenizer::load(dir_.path() + "/garbage/tokenizer.json");
    ADD_FAILURE() << "garbage loaded";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("garbage/tokenizer.json: not a JSON document"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(ByteLevelBpeTokenizer::load(dir_.path() + "/missing.json"), DataError);
}

TEST_F(BpeTokenizerTest, TheConfigChoosesSpecialIdsWithinTheVocabularyAndTokenizerConfig) {
  const json config = {{"eos_token", "<s>"}, {"clean_up_tokenization_spaces", false}};
  const std::string path = write(small_tokenizer({"ab"}, {"a b"}), "configured", config);
  const auto loaded_with = [&](const std::string& ids) {
    return config::parse_experiment_config("tokenizer:\n  path: " + path + "\n" + ids, "t.yaml");
  };
  auto tok = load_configured_tokenizer(loaded_with("  bos_id: 301\n  eos_id: 300\n  pad_id: 97\n"));
  EXPECT_EQ(tok->bos_id(), 301);
  EXPECT_EQ(tok->eos_id(), 300);
  EXPECT_EQ(tok->pad_id(), 97);
  EXPECT_EQ(tok->unk_id(), -1);
  // tokenizer_config.json names eos_token <s> (300): another eos id names both.
  try {
    load_configured_tokenizer(loaded_with("  bos_id: 301\n  eos_id: 98\n  pad_id: 97\n"));
    ADD_FAILURE() << "an eos other than tokenizer_config.json's was accepted";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("t.yaml:4"), std::string::npos) << what;
    EXPECT_NE(what.find("tokenizer.eos_id: got 98"), std::string::npos) << what;
    EXPECT_NE(what.find("names eos_token '<s>', id 300"), std::string::npos) << what;
  }
  try {
    load_configured_tokenizer(loaded_with("  bos_id: 301\n  eos_id: 300\n  pad_id: 302\n"));
    ADD_FAILURE() << "a pad id beyond the vocabulary was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.pad_id: got 302"), std::string::npos)
        << e.what();
  }
  // For a model that brings its own: eos from tokenizer_config.json, bos and pad falling back.
  auto own = load_tokenizer(path, "reward.tokenizer_path");
  EXPECT_EQ(own->eos_id(), 300);
  EXPECT_EQ(own->bos_id(), 300);
  EXPECT_EQ(own->pad_id(), 300);
  const std::string bare = write(small_tokenizer({}, {}), "bare");
  try {
    load_tokenizer(bare, "reward.tokenizer_path");
    ADD_FAILURE() << "a tokenizer.json without an eos_token was accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("reward.tokenizer_path"), std::string::npos);
  }
}

// ---- parity with the JavaScript reference ----

// Lines that exercise what tokenizers get wrong: the repository's own docs (English, markdown,
// code, numbers) and generated lines mixing scripts, emoji, digits, whitespace runs, contractions,
// decomposed characters and the tokenizer's special tokens. Deterministic.
std::vector<std::string> parity_corpus(const std::vector<std::string>& specials) {
  std::vector<std::string> lines;
  std::vector<std::string> words;
  std::vector<std::string> docs = {"README.md"};
  for (const auto& e : std::filesystem::directory_iterator(testing::source_path("docs"))) {
    if (e.path().extension() == ".md") docs.push_back("docs/" + e.path().filename().string());
  }
  std::sort(docs.begin(), docs.end());
  for (const std::string& doc : docs) {
    std::istringstream in(fs::read_file(testing::source_path(doc)));
    for (std::string line; std::getline(in, line);) {
      lines.push_back(line);
      std::istringstream ws(line);
      for (std::string w; ws >> w;) {
        if (words.size() < 20000) words.push_back(w);
      }
    }
  }
  const std::vector<std::string> scripts = {"Привет, как дела?",
                                            "Ελληνικά γράμματα",
                                            "مرحبا بالعالم",
                                            "שלום עולם",
                                            "नमस्ते दुनिया",
                                            "こんにちは、世界！",
                                            "カタカナとひらがな",
                                            "你好，世界。中文分词",
                                            "한국어 문장입니다",
                                            "ภาษาไทยไม่มีช่องว่าง",
                                            "Tiếng Việt có dấu",
                                            "Ñandú, pingüino, façade, naïve",
                                            "Größe straße ÄÖÜ",
                                            "ﬁnance ﬂoor",
                                            "Ⅻ ① ＡＢＣ１２３",
                                            "e\xCC\x81t\xC3\xA9 cafe\xCC\x81",
                                            "\xE1\x84\x80\xE1\x85\xA1 jamo",
                                            "Ωmega µ-law ½ ¾",
                                            "İstanbul ıi",
                                            "ǅungla Ǆ"};
  const std::vector<std::string> emoji = {"😀",
                                          "👍🏽",
                                          "👨‍👩‍👧‍👦",
                                          "🇫🇷🇯🇵",
                                          "1️⃣",
                                          "❤️",
                                          "🏳️‍🌈",
                                          "🤖",
                                          "🧪🧬",
                                          "☕",
                                          "🫠",
                                          "👩🏻‍💻"};
  const std::vector<std::string> spaces = {" ",
                                           "  ",
                                           "   ",
                                           "\t",
                                           "\n",
                                           "\r\n",
                                           "\n\n",
                                           "  \n ",
                                           " \t ",
                                           "\xC2\xA0",
                                           "\xE3\x80\x80",
                                           "\xE2\x80\x83",
                                           "\xE2\x80\x8B",
                                           "\xC2\x85",
                                           "\xE2\x80\xA8",
                                           "\xEF\xBB\xBF",
                                           "\x0B",
                                           "\x0C",
                                           "        ",
                                           "\xE1\xA0\x8E",
                                           "\xE2\x80\xA9",
                                           "\xE1\x9A\x80",
                                           "\xE2\x81\x9F",
                                           "\x1C",
                                           "\xE2\x80\xAF"};
  const std::vector<std::string> bits = {"'s",
                                         "'t",
                                         "'RE",
                                         "'ve",
                                         "'M",
                                         "'ll",
                                         "'D",
                                         "n't",
                                         "I'm",
                                         "DON'T",
                                         "we'Re",
                                         "for (int i = 0; i < n; ++i) {",
                                         "def f(x):\n    return x**2",
                                         "<div class=\"a\">",
                                         "SELECT * FROM t WHERE id=42;",
                                         "$$\\frac{a}{b}$$",
                                         "https://example.org/a?b=c&d=e",
                                         "user@example.com",
                                         "C++17",
                                         "x86_64",
                                         "--flag=value",
                                         "...",
                                         "!!!",
                                         "?!",
                                         "—",
                                         "–",
                                         "…",
                                         "«quotes»",
                                         "“curly”",
                                         "‘single’",
                                         "#hashtag",
                                         "@mention",
                                         "~/path/to/file.txt"};
  std::mt19937_64 rng(20261206);
  const auto pick = [&](const auto& pool) { return pool[rng() % pool.size()]; };
  const auto number = [&]() -> std::string {
    switch (rng() % 5) {
      case 0:
        return std::to_string(rng() % 10);
      case 1:
        return std::to_string(rng());
      case 2:
        return std::to_string(rng() % 100000) + "." + std::to_string(rng() % 1000);
      case 3:
        return "1,234,567";
      default:
        return "2026-12-06 08:42:17";
    }
  };
  while (lines.size() < 10500) {
    std::string line;
    const int parts = 1 + static_cast<int>(rng() % 12);
    for (int p = 0; p < parts; ++p) {
      switch (rng() % 8) {
        case 0:
          line += pick(scripts);
          break;
        case 1:
          line += pick(emoji);
          break;
        case 2:
          line += number();
          break;
        case 3:
          line += pick(bits);
          break;
        case 4:
          line += specials.empty() ? "" : pick(specials);
          break;
        default:
          line += pick(words);
          break;
      }
      line += rng() % 3 == 0 ? pick(spaces) : (rng() % 4 == 0 ? "" : " ");
    }
    lines.push_back(line);
  }
  lines.push_back(std::string(3000, 'a'));
  lines.push_back(std::string(500, '7'));
  lines.push_back(std::string(200, ' ') + "x" + std::string(200, '\n'));
  lines.push_back("");
  return lines;
}

// The reference's answers for `requests` (JSONL), one JSON object per request.
std::vector<json> reference(const std::string& tokenizer_dir, const std::string& requests,
                            const std::string& work) {
  fs::write_file_atomic(work + "/in.jsonl", requests);
  const auto r = run_process(
      "node " + shell_quote(testing::source_path("scripts/reference/hf_tokenizer_reference.mjs")) +
      " " + shell_quote(testing::source_path("data/tokenizers/js/package")) + " " +
      shell_quote(tokenizer_dir) + " " + shell_quote(work + "/in.jsonl") + " " +
      shell_quote(work + "/out.jsonl"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> out;
  std::istringstream in(r.exit_code == 0 ? fs::read_file(work + "/out.jsonl") : "");
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

class JsParityTest : public ::testing::TestWithParam<std::string> {};

TEST_P(JsParityTest, IdsAndTextEqualTheJavaScriptReference) {
  if (run_process("command -v node").exit_code != 0) {
    GTEST_SKIP() << "node is not installed (scripts/install_deps.sh installs it)";
  }
  const std::string dir = testing::source_path("data/tokenizers/" + GetParam());
  ASSERT_TRUE(std::filesystem::exists(dir + "/tokenizer.json") &&
              std::filesystem::exists(testing::source_path("data/tokenizers/js/package")))
      << dir << " is missing: run scripts/fetch_tokenizers.sh (scripts/test.sh does)";
  const auto tok = ByteLevelBpeTokenizer::load(dir + "/tokenizer.json");
  std::vector<std::string> specials;
  for (std::int64_t id = 0; id < tok->vocab_size(); ++id) {
    if (tok->is_special(id)) specials.push_back(tok->piece(id));
  }
  ASSERT_FALSE(specials.empty());
  const auto lines = parity_corpus(specials);
  ASSERT_GE(lines.size(), 10000u);
  // Random id sequences too (special ids among them): decoding bytes cut mid-character.
  std::mt19937_64 rng(7);
  std::vector<std::vector<std::int64_t>> id_rows(1000);
  for (auto& row : id_rows) {
    const int n = 1 + static_cast<int>(rng() % 24);
    for (int k = 0; k < n; ++k) {
      row.push_back(rng() % 10 == 0 ? tok->token_id(specials[rng() % specials.size()])
                                    : static_cast<std::int64_t>(rng() % tok->vocab_size()));
    }
  }
  std::string requests;
  for (const std::string& line : lines) requests += json{{"text", line}}.dump() + "\n";
  for (const auto& row : id_rows) requests += json{{"ids", row}}.dump() + "\n";
  fs::TempDir work("bpe-parity");
  const auto expected = reference(dir, requests, work.path());
  ASSERT_EQ(expected.size(), lines.size() + id_rows.size());

  std::size_t id_mismatches = 0;
  std::size_t text_mismatches = 0;
  std::size_t special_lines = 0;
  std::size_t tokens = 0;
  for (std::size_t k = 0; k < lines.size(); ++k) {
    const auto ids = tok->encode(lines[k]);
    tokens += ids.size();
    const auto want = expected[k].at("ids").get<std::vector<std::int64_t>>();
    if (std::any_of(ids.begin(), ids.end(), [&](std::int64_t id) { return tok->is_special(id); })) {
      ++special_lines;
    }
    if (ids != want && ++id_mismatches <= 5) {
      ADD_FAILURE() << GetParam() << " line " << k << " ids differ: " << json(lines[k]).dump()
                    << "\n ours " << json(ids).dump() << "\n js   " << json(want).dump();
    }
    const std::string text = tok->decode(ids);
    if (text != expected[k].at("text").get<std::string>() && ++text_mismatches <= 5) {
      ADD_FAILURE() << GetParam() << " line " << k << " decoded text differs: " << json(text).dump()
                    << " vs " << expected[k].at("text").dump();
    }
  }
  for (std::size_t k = 0; k < id_rows.size(); ++k) {
    const std::string text = tok->decode(id_rows[k]);
    const json& want = expected[lines.size() + k].at("text");
    if (text != want.get<std::string>() && ++text_mismatches <= 10) {
      ADD_FAILURE() << GetParam() << " ids " << json(id_rows[k]).dump() << " decode to "
                    << json(text).dump() << ", the reference " << want.dump();
    }
  }
  EXPECT_EQ(id_mismatches, 0u);
  EXPECT_EQ(text_mismatches, 0u);
  EXPECT_GT(special_lines, 500u);  // the special tokens were in the text and split out
  std::cout << GetParam() << ": " << lines.size() << " lines (" << tokens << " tokens, "
            << special_lines << " with special tokens) and " << id_rows.size()
            << " id sequences identical to @huggingface/tokenizers\n";
}

INSTANTIATE_TEST_SUITE_P(RealAndSmallVocabularies, JsParityTest,
                         ::testing::Values("gpt2", "llama3", "qwen2_5", "small-llama3",
                                           "small-qwen2"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace infalign::tokenizer
