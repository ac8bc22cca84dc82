// SentencePiece inside a process that also runs LibTorch: Debian's two libraries carry clashing
// protobuf copies, so this only works through the dlopen'ed module.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"
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
    SentencePieceTrainOptions o;
    o.input_file = dir_->path() + "/corpus.txt";
    o.model_prefix = dir_->path() + "/tok";
    o.vocab_size = 60;
    o.hard_vocab_limit = false;
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

TEST_F(SentencePieceTest, TrainingIsDeterministic) {
  SentencePieceTrainOptions o;
  o.input_file = dir_->path() + "/corpus.txt";
  o.model_prefix = dir_->path() + "/again";
  o.vocab_size = 60;
  o.hard_vocab_limit = false;
  train_sentencepiece(o);
  // The .model files embed the training flags (and so the output path); compare the vocabularies.
  auto first = SentencePieceTokenizer::load(dir_->path() + "/tok.model");
  auto second = SentencePieceTokenizer::load(dir_->path() + "/again.model");
  ASSERT_EQ(first->vocab_size(), second->vocab_size());
  for (std::int64_t id = 0; id < first->vocab_size(); ++id)
    EXPECT_EQ(first->piece(id), second->piece(id)) << id;
}

}  // namespace
}  // namespace infalign::tokenizer
