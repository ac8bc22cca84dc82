// SentencePiece inside a process that also runs LibTorch: Debian's two libraries carry clashing
// protobuf copies, so this only works through the dlopen'ed module.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "infalign/config/load.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/tokenizer/load.h"
#include "infalign/tokenizer/sentencepiece_tokenizer.h"

namespace infalign::tokenizer {
namespace {

// A small corpus with enough variety for a 60-piece vocabulary.
std::string corpus() {
  const char* subjects[] = {"the cat", "a dog", "my friend", "the old man", "every child"};
  const char* verbs[] = {"likes", "sees", "finds", "remembers", "paints"};
  const char* objects[] = {"the sea", "a red apple", "warm bread", "the quiet garden", "music"};
  std::string text;
  for (const char* s : subjects) {
    for (const char* v : verbs) {
      for (const char* o : objects) text += std::string(s) + " " + v + " " + o + ".\n";
    }
  }
  return text;
}

class SentencePieceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::TempDir("spm-test");
    fs::write_file_atomic(dir_->path() + "/corpus.txt", corpus());
    train("tok");
  }
  // Trains <dir>/<name>.model on the corpus: 60 pieces at most, pad piece `pad_id` (-1: none).
  static void train(const std::string& name, std::int64_t pad_id = 3) {
    SentencePieceTrainOptions o;
    o.input_file = dir_->path() + "/corpus.txt";
    o.model_prefix = dir_->path() + "/" + name;
    o.vocab_size = 60;
    o.hard_vocab_limit = false;
    o.pad_id = pad_id;
    train_sentencepiece(o);
  }
  static void TearDownTestSuite() { delete dir_; }
  static fs::TempDir* dir_;
};
fs::TempDir* SentencePieceTest::dir_ = nullptr;

TEST_F(SentencePieceTest, RoundTripsTextNextToLiveTensors) {
  const at::Tensor before = at::matmul(at::ones({4, 4}), at::ones({4, 4}));  // LibTorch is loaded
  auto tok = SentencePieceTokenizer::load(dir_->path() + "/tok.model");
  const std::string text = "the old man paints warm bread.";
  const auto ids = tok->encode(text);
  EXPECT_GT(ids.size(), 3u);
  EXPECT_EQ(tok->decode(ids), text);
  const at::Tensor as_tensor = at::tensor(ids, at::kLong);
  EXPECT_EQ(as_tensor.numel(), static_cast<std::int64_t>(ids.size()));
  EXPECT_EQ(before[0][0].item<float>(), 4.0f);
  EXPECT_FALSE(sentencepiece_module_path().empty());
}

TEST_F(SentencePieceTest, SpecialIdsAreFixedAndDistinct) {
  auto tok = SentencePieceTokenizer::load(dir_->path() + "/tok.model");
  EXPECT_EQ(tok->unk_id(), 0);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->pad_id(), 3);
  EXPECT_LE(tok->vocab_size(), 60);
  EXPECT_GT(tok->vocab_size(), 20);
  // Special ids decode to nothing, so a response ending in EOS decodes to its text.
  auto ids = tok->encode("a dog sees music.");
  const std::string plain = tok->decode(ids);
  ids.insert(ids.begin(), tok->bos_id());
  ids.push_back(tok->eos_id());
  ids.push_back(tok->pad_id());
  EXPECT_EQ(tok->decode(ids), plain);
  EXPECT_THROW(tok->decode({tok->vocab_size()}), DataError);
  EXPECT_EQ(tok->piece(tok->eos_id()), "</s>");
}

TEST_F(SentencePieceTest, BadFilesAreDataErrorsNamingThem) {
  const std::string missing = dir_->path() + "/missing.model";
  try {
    SentencePieceTokenizer::load(missing);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos);
  }
  const std::string garbage = dir_->path() + "/garbage.model";
  fs::write_file_atomic(garbage, "not a model");
  EXPECT_THROW(SentencePieceTokenizer::load(garbage), DataError);
  SentencePieceTrainOptions o;
  o.input_file = dir_->path() + "/no_corpus.txt";
  o.model_prefix = dir_->path() + "/x";
  EXPECT_THROW(train_sentencepiece(o), DataError);
}

TEST_F(SentencePieceTest, AModelWithoutAPadPiecePadsWithTheConfiguredId) {
  train("padless", /*pad_id=*/-1);  // as Llama-2, TinyLlama and Mistral ship
  const std::string path = dir_->path() + "/padless.model";
  auto tok = SentencePieceTokenizer::load(path);
  EXPECT_FALSE(tok->has_pad_piece());
  EXPECT_EQ(tok->pad_id(), -1);
  EXPECT_THROW(tok->use_padding_id(tok->eos_id()), Error);
  EXPECT_THROW(tok->use_padding_id(tok->vocab_size()), Error);
  tok->use_padding_id(0);
  EXPECT_EQ(tok->pad_id(), 0);
  // A model with a pad piece keeps it.
  auto padded = SentencePieceTokenizer::load(dir_->path() + "/tok.model");
  EXPECT_TRUE(padded->has_pad_piece());
  EXPECT_THROW(padded->use_padding_id(0), Error);

  // Through the config: tokenizer.pad_id (here unk's id) becomes the filler; for a model with a
  // pad piece the same config is a mismatch naming the key.
  const std::string yaml = "tokenizer:\n  path: " + path + "\n  pad_id: 0\n";
  const auto loaded = config::parse_experiment_config(yaml, "padless.yaml");
  EXPECT_EQ(load_configured_tokenizer(loaded)->pad_id(), 0);
  const auto too_big = config::parse_experiment_config(
      "tokenizer:\n  path: " + path + "\n  pad_id: 59\n  vocab_size: 2000\n", "big.yaml");
  if (tok->vocab_size() <= 59) {
    try {
      load_configured_tokenizer(too_big);
      ADD_FAILURE() << "a pad id beyond the vocabulary was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("big.yaml:3"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("has only"), std::string::npos) << e.what();
    }
  }
  const auto with_pad = config::parse_experiment_config(
      "tokenizer:\n  path: " + dir_->path() + "/tok.model\n  pad_id: 0\n", "withpad.yaml");
  try {
    load_configured_tokenizer(with_pad);
    ADD_FAILURE() << "a pad id other than the model's pad piece was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.pad_id: got 0"), std::string::npos) << e.what();
  }
}

TEST_F(SentencePieceTest, TrainingIsDeterministic) {
  train("again");
  // The .model files embed the training flags (and so the output path); compare the vocabularies.
  auto first = SentencePieceTokenizer::load(dir_->path() + "/tok.model");
  auto second = SentencePieceTokenizer::load(dir_->path() + "/again.model");
  ASSERT_EQ(first->vocab_size(), second->vocab_size());
  for (std::int64_t id = 0; id < first->vocab_size(); ++id)
    EXPECT_EQ(first->piece(id), second->piece(id)) << id;
}

}  // namespace
}  // namespace infalign::tokenizer
