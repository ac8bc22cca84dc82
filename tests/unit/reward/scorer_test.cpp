#include "infalign/reward/scorer.h"

#include <chrono>
#include <filesystem>

#include <gtest/gtest.h>

#include "infalign/config/experiment_config.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/model/hf_io.h"
#include "infalign/model/llama.h"
#include "infalign/tokenizer/sentencepiece_tokenizer.h"

#include "paths.h"
#include "tiny_lm.h"

namespace infalign::reward {
namespace {

using Ids = std::vector<std::int64_t>;

TEST(ScoreSequences, PaddedBatchScoresAsEachRowAloneWhateverThePadId) {
  // A tokenizer without a pad piece pads with another piece's id: here 7, which the rows also
  // hold. Batched (left-padded) scores equal the rows scored one at a time.
  model::ScalarModel rm = testing::tiny_model<model::ScalarModel>(testing::tiny_config(), 3, 20.0);
  const std::vector<Ids> rows = {{1, 7, 9, 7, 2}, {1, 12, 2}, {1, 7, 20, 21, 22, 23, 2}};
  const auto batched = score_sequences(rm, rows, /*pad_id=*/7, /*batch_size=*/3);
  const auto other_pad = score_sequences(rm, rows, /*pad_id=*/3, /*batch_size=*/3);
  ASSERT_EQ(batched.size(), 3u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const double alone = score_sequences(rm, {rows[i]}, 7, 1)[0];
    EXPECT_NEAR(batched[i], alone, 1e-5 * std::max(1.0, std::abs(alone))) << i;
    EXPECT_EQ(batched[i], other_pad[i]) << i;  // the filler's id is never read
  }
  EXPECT_NE(batched[0], batched[1]);
}

// Ids 0..19 with bos 1, eos 2, pad 0: enough for make_scorer's ScoreFormat.
class IdTokenizer : public tokenizer::Tokenizer {
 public:
  std::vector<std::int64_t> encode(std::string_view) const override { return {}; }
  std::string decode(const std::vector<std::int64_t>&) const override { return ""; }
  std::int64_t vocab_size() const override { return 20; }
  std::int64_t unk_id() const override { return 3; }
  std::int64_t bos_id() const override { return 1; }
  std::int64_t eos_id() const override { return 2; }
  std::int64_t pad_id() const override { return 0; }
  std::string piece(std::int64_t id) const override { return std::to_string(id); }
};

TEST(MakeScorer, Bfloat16ScoringIsNearFloat32AndRecordedInTheScorersHash) {
  fs::TempDir dir;
  model::ScalarModel rm = testing::tiny_model<model::ScalarModel>(testing::tiny_config(), 5, 20.0);
  model::save_scalar_model(rm, dir.path() + "/rm");
  config::ExperimentConfig cfg;
  cfg.reward.model_path = dir.path() + "/rm";
  const IdTokenizer tok;
  const std::vector<Ids> prompts = {{1, 5, 6}, {1, 9}, {1, 4, 4, 8}};
  std::vector<ScoredText> items(prompts.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    items[i].prompt_ids = &prompts[i];
    items[i].response_ids = {static_cast<std::int64_t>(10 + i), 11, 12};
  }
  auto f32 = make_scorer(cfg, tok, c10::Device(c10::kCPU));
  cfg.reward.dtype = config::DType::BFloat16;
  auto bf16 = make_scorer(cfg, tok, c10::Device(c10::kCPU));
  cfg.reward.dtype = config::DType::Float32;
  cfg.run.frozen_dtype = config::DType::BFloat16;  // bf16 weights score in bf16 too
  auto frozen = make_scorer(cfg, tok, c10::Device(c10::kCPU));
  // float32 keeps the model's own hash (older calibration caches stay valid); bf16 is another
  // scorer, whichever setting makes it so.
  EXPECT_EQ(f32->content_hash(), model_content_hash(cfg.reward.model_path));
  EXPECT_NE(bf16->content_hash(), f32->content_hash());
  EXPECT_EQ(frozen->content_hash(), bf16->content_hash());
  const auto a = f32->score(items), b = bf16->score(items);
  ASSERT_EQ(a.size(), b.size());
  double spread = 0;
  for (std::size_t i = 0; i < a.size(); ++i) spread = std::max(spread, std::abs(a[i] - a[0]));
  bool differs = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(b[i], a[i], 0.05 * spread + 1e-3) << i;
    differs = differs || a[i] != b[i];
  }
  EXPECT_TRUE(differs) << "the bfloat16 scores should come from a bfloat16 forward";
  // The head computes in float32: scores are not rounded to bf16's 8 significant bits (which
  // would tie the scores of one prompt's samples in calibration).
  bool finer = false;
  for (const double v : b) {
    finer = finer || at::scalar_tensor(v, at::kDouble).to(at::kBFloat16).item<double>() != v;
  }
  EXPECT_TRUE(finer) << "bf16 scores are rounded to bf16";
}

std::vector<ScoredText> command_items() {
  std::vector<ScoredText> items(3);
  items[0].prompt_text = "Say something";
  items[0].response_text = "I love this kind dog";
  items[1].prompt_text = "A line\nbreak and \"quotes\"";
  items[1].response_text = "so sad";
  items[2].prompt_text = "caf\xc3\xa9";
  items[2].response_text = "";
  return items;
}

std::string command_error(const std::string& command, double timeout = 10.0) {
  try {
    CommandScorer(command, timeout).score(command_items());
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CommandScorer, TheExampleScorerScoresEachItemInOrder) {
  CommandScorer scorer("/usr/bin/python3 " +
                           testing::source_path("scripts/examples/keyword_scorer.py") +
                           " --good kind,love --bad sad",
                       30.0);
  const auto scores = scorer.score(command_items());
  ASSERT_EQ(scores.size(), 3u);
  EXPECT_NEAR(scores[0], 2.0 / std::sqrt(6.0), 1e-12);  // 2 good words of 5
  EXPECT_NEAR(scores[1], -1.0 / std::sqrt(3.0), 1e-12);
  EXPECT_EQ(scores[2], 0.0);
  EXPECT_STREQ(scorer.kind(), "command");
  EXPECT_TRUE(scorer.needs_text());
  // The hash follows the command and the script it names.
  EXPECT_NE(scorer.content_hash(), CommandScorer("/usr/bin/python3 other.py", 1).content_hash());
}

TEST(CommandScorer, ItReceivesEveryItemAsOneJsonLine) {
  fs::TempDir dir;
  const std::string seen = dir.path() + "/seen.jsonl";
  const auto scores =
      CommandScorer("tee " + seen + " | awk '{print NR / 2}'", 10).score(command_items());
  EXPECT_EQ(scores, (std::vector<double>{0.5, 1.0, 1.5}));
  EXPECT_EQ(fs::read_file(seen),
            "{\"prompt\":\"Say something\",\"response\":\"I love this kind dog\"}\n"
            "{\"prompt\":\"A line\\nbreak and \\\"quotes\\\"\",\"response\":\"so sad\"}\n"
            "{\"prompt\":\"caf\xc3\xa9\",\"response\":\"\"}\n");
}

TEST(CommandScorer, MisbehavingProgramsAreClearErrorsNamingThem) {
  EXPECT_EQ(command_error("cat >/dev/null; echo 1; echo oops; echo 3"),
            "reward.command `cat >/dev/null; echo 1; echo oops; echo 3`: stdout line 2 is "
            "\"oops\", expected one finite number a line (the score of input line 2)");
  EXPECT_NE(command_error("cat >/dev/null; echo 1; echo nan; echo 3").find("line 2 is \"nan\""),
            std::string::npos);
  EXPECT_EQ(command_error("head -n 1 >/dev/null; echo 1"),
            "reward.command `head -n 1 >/dev/null; echo 1` printed 1 score lines for a batch of 3 "
            "items; expected one a line, in input order");
  EXPECT_EQ(command_error("cat >/dev/null; echo broken >&2; exit 3"),
            "reward.command `cat >/dev/null; echo broken >&2; exit 3` exited with status 3 on a "
            "batch of 3 items; expected status 0 after printing one score a line; its stderr "
            "ended with:\nbroken\n");
  EXPECT_NE(command_error("kill -SEGV $$").find("was killed by signal 11"), std::string::npos);
  EXPECT_NE(command_error("/nonexistent/scorer").find("exited with status 127"), std::string::npos);
  // A hang is killed at the timeout, children included, and reported.
  const auto start = std::chrono::steady_clock::now();
  const std::string hang = command_error("sleep 30; echo 1; echo 2; echo 3", 0.5);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_NE(hang.find("did not finish a batch of 3 items within 0.5 s "
                      "(reward.command_timeout_seconds) and was killed"),
            std::string::npos)
      << hang;
  // A program that answers without reading its input is fine (no SIGPIPE to this process).
  std::vector<ScoredText> many(20000);
  for (auto& item : many) item.response_text = std::string(100, 'x');
  const auto scores = CommandScorer("yes 1 | head -n 20000", 10).score(many);
  EXPECT_EQ(scores.size(), 20000u);
}

TEST(ModelScorerOwnTokenizer, ScoresTheTextEncodedAgainWithTheRewardModelsTokenizer) {
  fs::TempDir dir;
  std::string corpus;
  for (const char* s : {"the cat", "a dog", "my friend", "the old man"}) {
    for (const char* v : {"likes", "sees", "paints"}) {
      for (const char* o : {"the sea", "warm bread", "music", "a red apple"}) {
        corpus += std::string(s) + " " + v + " " + o + ".\n";
      }
    }
  }
  fs::write_file_atomic(dir.path() + "/corpus.txt", corpus);
  for (const auto& [name, size] : {std::pair<const char*, int>{"policy", 60}, {"rm", 40}}) {
    tokenizer::SentencePieceTrainOptions o;
    o.input_file = dir.path() + "/corpus.txt";
    o.model_prefix = dir.path() + "/" + name;
    o.vocab_size = size;
    o.hard_vocab_limit = false;
    o.pad_id = std::string(name) == "rm" ? -1 : 3;  // the reward model's has no pad piece
    tokenizer::train_sentencepiece(o);
  }
  auto policy_tok = tokenizer::SentencePieceTokenizer::load(dir.path() + "/policy.model");
  std::shared_ptr<tokenizer::SentencePieceTokenizer> rm_tok =
      tokenizer::SentencePieceTokenizer::load(dir.path() + "/rm.model");
  model::LlamaConfig c = testing::tiny_config();
  c.vocab_size = 64;  // both tokenizers' pieces
  model::ScalarModel rm = testing::tiny_model<model::ScalarModel>(c, 4, 1.0);
  const std::vector<std::pair<std::string, std::string>> texts = {
      {"the old man", "paints warm bread."},
      {"a dog sees", "music."},
      {"my friend", "likes the sea."}};
  std::vector<Ids> prompt_ids;
  for (const auto& [p, r] : texts)
    prompt_ids.push_back(tokenizer::encode_prompt(*policy_tok, p, 16));
  std::vector<ScoredText> items(texts.size());
  std::vector<Ids> expected;
  const ScoreFormat format{rm_tok->bos_id(), rm_tok->eos_id(), config::RewardInput::PromptResponse,
                           32};
  for (std::size_t i = 0; i < texts.size(); ++i) {
    items[i].prompt_ids = &prompt_ids[i];
    items[i].response_ids = policy_tok->encode(texts[i].second);
    items[i].prompt_text = texts[i].first;
    items[i].response_text = texts[i].second;
    expected.push_back(score_input_ids(format,
                                       tokenizer::encode_prompt(*rm_tok, texts[i].first, 16),
                                       rm_tok->encode(texts[i].second)));
  }
  ModelScorer own(rm, format, rm_tok->unk_id(), 8, "h", OwnTokenizer{rm_tok, 16});
  EXPECT_TRUE(own.needs_text());
  EXPECT_EQ(own.score(items), score_sequences(rm, expected, rm_tok->unk_id(), 8));
  // The policy's ids read by the same model give other scores: the text was really re-encoded.
  ModelScorer direct(
      rm, {policy_tok->bos_id(), policy_tok->eos_id(), config::RewardInput::PromptResponse, 32},
      policy_tok->pad_id(), 8, "h");
  EXPECT_FALSE(direct.needs_text());
  EXPECT_NE(direct.score(items), own.score(items));
}

TEST(ScoreInputIds, PromptAndResponseOrResponseAloneAlwaysEndingAtEos) {
  const Ids prompt = {1, 40, 41, 42};  // <bos> and three prompt tokens
  const Ids response = {50, 51};
  ScoreFormat f{/*bos_id=*/1, /*eos_id=*/2, config::RewardInput::PromptResponse, /*limit=*/16};
  EXPECT_EQ(score_input_ids(f, prompt, response), (Ids{1, 40, 41, 42, 50, 51, 2}));
  f.input = config::RewardInput::Response;
  EXPECT_EQ(score_input_ids(f, prompt, response), (Ids{1, 50, 51, 2}));
  EXPECT_EQ(score_input_ids(f, prompt, {}), (Ids{1, 2}));
  // Cut at the model's context: the last position is still the <eos> the score is read at.
  f.limit = 3;
  EXPECT_EQ(score_input_ids(f, prompt, response), (Ids{1, 50, 2}));
  f.input = config::RewardInput::PromptResponse;
  f.limit = 5;
  EXPECT_EQ(score_input_ids(f, prompt, response), (Ids{1, 40, 41, 42, 2}));
}

TEST(ModelContentHash, CoversEveryShardOfAShardedModel) {
  fs::TempDir dir;
  const std::string m = dir.path();
  fs::write_file_atomic(m + "/config.json", "{}");
  fs::write_file_atomic(m + "/model.safetensors.index.json",
                        R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})");
  fs::write_file_atomic(m + "/s1.safetensors", "one");
  fs::write_file_atomic(m + "/s2.safetensors", "two");
  const std::string before = model_content_hash(m);
  fs::write_file_atomic(m + "/s2.safetensors", "two, changed");
  EXPECT_NE(model_content_hash(m), before);
  fs::write_file_atomic(m + "/s2.safetensors", "two");
  EXPECT_EQ(model_content_hash(m), before);
  std::filesystem::remove(m + "/s2.safetensors");
  EXPECT_THROW(model_content_hash(m), CheckpointError);
}

}  // namespace
}  // namespace infalign::reward
