#include "infalign/data/text_corpus.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/data/prepare.h"

#include "paths.h"

namespace infalign::data {
namespace {

using testing::test_data_path;

// What `read` (a reader of `path`) throws once `path` holds `content`: the DataError's message,
// or "(no error)".
template <class Read>
std::string data_error_of(const std::string& path, const std::string& content, Read read) {
  fs::write_file_atomic(path, content);
  try {
    read();
  } catch (const DataError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TextCorpusTest, CleanRecordDropsAttributionAndCollapsesWhitespace) {
  EXPECT_EQ(clean_record("  Two  lines\nof text.\n\t\t-- Somebody, \"A Book\"\n"),
            "Two lines of text.");
  EXPECT_EQ(clean_record("No -- dash at the start is kept."), "No -- dash at the start is kept.");
  EXPECT_EQ(clean_record("\n\n"), "");
}

TEST(TextCorpusTest, ReadsFortuneRecords) {
  const auto records = read_fortune_file(test_data_path("fortunes/wisdom"));
  ASSERT_EQ(records.size(), 60u);
  for (const auto& r : records) {
    EXPECT_EQ(r.find('\n'), std::string::npos);
    EXPECT_EQ(r.find("--"), std::string::npos) << r;  // attributions stripped
  }
  EXPECT_THROW(read_fortune_file(test_data_path("fortunes/missing")), DataError);
}

TEST(TextCorpusTest, WordsAndListedWords) {
  EXPECT_EQ(words_of("Don't STOP, it's 3 o'clock!"),
            (std::vector<std::string>{"don't", "stop", "it's", "3", "o'clock"}));
  const auto listed = read_word_list(test_data_path("wordlist.txt"));
  EXPECT_EQ(listed.size(), 2u);
  EXPECT_TRUE(contains_listed_word("Seven SPOONS.", listed));
  EXPECT_TRUE(contains_listed_word("the last train home", listed));  // a two-word entry
  EXPECT_FALSE(contains_listed_word("the last bus, the train", listed));
}

TEST(TextCorpusTest, SplitIsStableAndNearTheRequestedFractions) {
  EXPECT_EQ(split_of("a record", 1, 0.1, 0.1), split_of("a record", 1, 0.1, 0.1));
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 20000; ++i) {
    ++counts[static_cast<int>(split_of("record " + std::to_string(i), 7, 0.1, 0.05))];
  }
  EXPECT_NEAR(counts[0] / 20000.0, 0.85, 0.01);
  EXPECT_NEAR(counts[1] / 20000.0, 0.10, 0.01);
  EXPECT_NEAR(counts[2] / 20000.0, 0.05, 0.01);
  // Another seed gives another split of the same records.
  int moved = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string r = "record " + std::to_string(i);
    moved += split_of(r, 7, 0.1, 0.05) != split_of(r, 8, 0.1, 0.05);
  }
  EXPECT_GT(moved, 100);
}

TEST(TextCorpusTest, BadRecordFilesNameTheFileAndLine) {
  fs::TempDir dir;
  const std::string path = dir.path() + "/records.txt";
  auto error_of = [&](const std::string& content) {
    return data_error_of(path, content, [&] { read_records(path); });
  };
  EXPECT_EQ(error_of(""), path + ": the file is empty; expected one record per line");
  EXPECT_EQ(error_of("one\n\nthree\n"),
            path + ":2: empty record; expected one non-empty record per line");
  EXPECT_EQ(error_of("one\ntw\xff\n"), path + ":2: byte 3 is not valid UTF-8 text");
  EXPECT_EQ(error_of(std::string("ok\nnul\0here\n", 13)),
            path + ":2: byte 4 is not valid UTF-8 text");
  EXPECT_THROW(read_records(dir.path() + "/missing.txt"), DataError);
  fs::write_file_atomic(path, "caf\xc3\xa9 au lait\nsecond\r\n");
  EXPECT_EQ(read_records(path), (std::vector<std::string>{"caf\xc3\xa9 au lait", "second"}));
}

TEST(TextCorpusTest, JsonlPromptsKeepLineBreaksAndReadTheConfiguredMember) {
  fs::TempDir dir;
  const std::string path = dir.path() + "/prompts.jsonl";
  fs::write_file_atomic(path,
                        "{\"prompt\": \"<|user|>\\nHello\\tthere\\n<|assistant|>\\n\", \"id\": 1}\n"
                        "\n"
                        "{\"text\": \"other\", \"prompt\": \"caf\\u00e9 \\ud83d\\ude00\"}\r\n");
  EXPECT_EQ(read_prompts(path, "prompt"),
            (std::vector<std::string>{"<|user|>\nHello\tthere\n<|assistant|>\n",
                                      "caf\xc3\xa9 \xf0\x9f\x98\x80"}));
  // Another member, and a text file (one prompt a line, the member ignored).
  fs::write_file_atomic(path, "{\"text\": \"a\"}\n{\"text\": \"b\"}\n");
  EXPECT_EQ(read_prompts(path, "text"), (std::vector<std::string>{"a", "b"}));
  const std::string text_path = dir.path() + "/prompts.txt";
  fs::write_file_atomic(text_path, "{\"text\": \"a\"}\nsecond\n");
  EXPECT_EQ(read_prompts(text_path, "text"),
            (std::vector<std::string>{"{\"text\": \"a\"}", "second"}));
  EXPECT_TRUE(is_jsonl_path("x/p.jsonl"));
  EXPECT_FALSE(is_jsonl_path("x/p.jsonl.txt"));
}

TEST(TextCorpusTest, BadJsonlPromptsNameTheFileLineAndMember) {
  fs::TempDir dir;
  const std::string path = dir.path() + "/prompts.jsonl";
  auto error_of = [&](const std::string& content) {
    return data_error_of(path, content, [&] { read_prompts(path, "prompt"); });
  };
  EXPECT_EQ(error_of("\n \n"), path + ": no records; expected one JSON object a line");
  EXPECT_EQ(error_of("{\"prompt\": \"ok\"}\n[\"a list\"]\n"),
            path + ":2: a JSON array where an object {\"prompt\": \"...\"} was expected");
  EXPECT_EQ(error_of("{\"prompt\": \"ok\"}\n{\"text\": \"x\", \"id\": 3}\n"),
            path + ":2: no member \"prompt\" (data.prompt_field); the object has members id, text");
  EXPECT_EQ(error_of("{}\n"),
            path + ":1: no member \"prompt\" (data.prompt_field); the object has no members");
  EXPECT_EQ(error_of("{\"prompt\": 7}\n"),
            path + ":1: member \"prompt\" is a JSON number; expected a string");
  EXPECT_EQ(error_of("{\"prompt\": \" \\n\"}\n"),
            path + ":1: member \"prompt\" is empty; expected non-empty text");
  EXPECT_EQ(error_of("{\"prompt\": \"a\\u0000b\"}\n"),
            path + ":1: member \"prompt\" holds a NUL character");
  // Truncated JSON and invalid UTF-8 inside a string are parse errors with the line.
  EXPECT_EQ(
      error_of("{\"prompt\": \"ok\"}\n{\"prompt\": \"cut").rfind(path + ":2: not a JSON value", 0),
      0u);
  EXPECT_EQ(error_of("{\"prompt\": \"tw\xff\"}\n").rfind(path + ":1: not a JSON value", 0), 0u);
  EXPECT_THROW(read_prompts(dir.path() + "/missing.jsonl", "prompt"), DataError);
}

TEST(PrepareTest, MakePromptTakesFourToEightWords) {
  const std::string text = "one two three four five six seven eight nine ten eleven twelve";
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const std::string p = make_prompt(text, 4, 8, seed);
    const auto n = words_of(p).size();
    EXPECT_GE(n, 4u);
    EXPECT_LE(n, 8u);
    EXPECT_EQ(text.rfind(p, 0), 0u);  // a prefix
  }
  EXPECT_EQ(make_prompt("too short to continue", 4, 8, 1), "");
}

TEST(PrepareTest, BuildsDisjointSplitsAndPromptSets) {
  fs::TempDir dir;
  PrepareOptions o;
  o.fortune_dirs = {test_data_path("fortunes")};
  o.profanity_list = test_data_path("wordlist.txt");
  o.out_dir = dir.path() + "/data";
  o.valid_fraction = 0.2;
  o.test_fraction = 0.2;
  o.seed = 5;
  const PrepareReport r = prepare_default_data(o);
  EXPECT_EQ(r.files_read, 2u);  // wisdom and food; politics is excluded, wisdom.dat skipped
  const auto train = read_records(o.out_dir + "/train.txt");
  const auto valid = read_records(o.out_dir + "/valid.txt");
  const auto test = read_records(o.out_dir + "/test.txt");
  EXPECT_EQ(train.size() + valid.size() + test.size(), r.train + r.valid + r.test);
  for (const auto& rec : train) {
    EXPECT_EQ(std::find(valid.begin(), valid.end(), rec), valid.end());
    EXPECT_EQ(std::find(test.begin(), test.end(), rec), test.end());
    EXPECT_EQ(rec.find("spoons"), std::string::npos);  // profanity-list filter
  }
  EXPECT_GT(r.dropped_profanity, 0u);
  const auto prompts_train = read_records(o.out_dir + "/prompts_train.txt");
  const auto prompts_eval = read_records(o.out_dir + "/prompts_eval.txt");
  for (const auto& p : prompts_eval) {
    EXPECT_EQ(std::find(prompts_train.begin(), prompts_train.end(), p), prompts_train.end());
  }
  // Same inputs, same seed: byte-identical outputs.
  PrepareOptions again = o;
  again.out_dir = dir.path() + "/again";
  prepare_default_data(again);
  EXPECT_EQ(fs::read_file(again.out_dir + "/train.txt"), fs::read_file(o.out_dir + "/train.txt"));
  EXPECT_EQ(fs::read_file(again.out_dir + "/prompts_eval.txt"),
            fs::read_file(o.out_dir + "/prompts_eval.txt"));
}

}  // namespace
}  // namespace infalign::data
