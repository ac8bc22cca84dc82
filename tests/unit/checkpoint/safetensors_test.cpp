#include "infalign/checkpoint/safetensors.h"

#include <filesystem>

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"

namespace infalign::checkpoint {
namespace {

// Bitwise equality, NaN payloads included.
bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * x.element_size()) == 0;
}

TEST(SafetensorsTest, RoundTripIsBitExactForEveryDtype) {
  fs::TempDir dir;
  at::Tensor f32 = at::randn({3, 5});
  f32[0][0] = std::numeric_limits<float>::quiet_NaN();
  f32[0][1] = -0.0f;
  const NamedTensors tensors = {
      {"f32", f32},
      {"bf16", at::randn({4, 2}).to(at::kBFloat16)},
      {"f16", at::randn({7}).to(at::kHalf)},
      {"f64", at::randn({2, 2}, at::kDouble)},
      {"i64", at::arange(-5, 5, at::kLong)},
      {"u8", at::arange(0, 256, at::kLong).to(at::kByte)},
      {"bool", at::rand({6}) > 0.5},
      {"scalar", at::full({}, 3.5)},
      {"empty", at::empty({0, 3})},
      {"strided", at::randn({4, 4}).t()},
  };
  const std::string path = dir.path() + "/t.safetensors";
  save_safetensors(path, tensors, {{"format", "pt"}});
  const auto loaded = load_safetensors(path);
  EXPECT_EQ(loaded.metadata.at("format"), "pt");
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const at::Tensor* back = loaded.find(name);
    ASSERT_NE(back, nullptr) << name;
    EXPECT_TRUE(same_bits(*back, t)) << name;
  }
  EXPECT_EQ(loaded.tensors.front().first, "f32");  // file order is write order
}

TEST(SafetensorsTest, RefusesDuplicateNamesAndUnsupportedDtypes) {
  fs::TempDir dir;
  const std::string path = dir.path() + "/t.safetensors";
  EXPECT_THROW(save_safetensors(path, {{"a", at::ones({1})}, {"a", at::ones({1})}}),
               CheckpointError);
  EXPECT_THROW(save_safetensors(path, {{"c", at::ones({1}, at::kComplexFloat)}}), CheckpointError);
}

TEST(SafetensorsTest, TruncatedFileIsACheckpointErrorNamingIt) {
  fs::TempDir dir;
  const std::string path = dir.path() + "/t.safetensors";
  save_safetensors(path, {{"w", at::ones({64})}});
  const std::string bytes = fs::read_file(path);
  fs::write_file_atomic(path, bytes.substr(0, bytes.size() - 10));
  try {
    load_safetensors(path);
    FAIL() << "expected CheckpointError";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": tensor 'w'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_safetensors(dir.path() + "/missing.safetensors"), CheckpointError);
}

TEST(SafetensorsTest, SaveConvertsToTheFileDtypeAndTheReaderReadsOneTensorOnDemand) {
  fs::TempDir dir;
  const std::string path = dir.path() + "/t.safetensors";
  const at::Tensor a = at::randn({5, 3});
  const at::Tensor b = at::randn({8});
  save_safetensors(path, {{"a", a}, {"b", b}}, {}, at::kBFloat16);
  const SafetensorsReader reader(path);
  ASSERT_EQ(reader.header().tensors.size(), 2u);
  const TensorRecord* rb = reader.find("b");
  ASSERT_NE(rb, nullptr);
  EXPECT_EQ(rb->dtype, "BF16");
  EXPECT_EQ(rb->end - rb->begin, 8u * 2);
  EXPECT_TRUE(same_bits(reader.read(*rb), b.to(at::kBFloat16)));
  EXPECT_TRUE(same_bits(reader.read(*reader.find("a")), a.to(at::kBFloat16)));
  EXPECT_EQ(reader.find("c"), nullptr);
  // A file cut inside its data section is refused when opened, before any tensor is read.
  const std::string bytes = fs::read_file(path);
  fs::write_file_atomic(path, bytes.substr(0, bytes.size() - 1));
  EXPECT_THROW(SafetensorsReader{path}, CheckpointError);
}

TEST(SafetensorsTest, AFailedSaveLeavesTheOldFileAndNoTemporaryFile) {
  fs::TempDir dir;
  const std::string path = dir.path() + "/t.safetensors";
  save_safetensors(path, {{"w", at::ones({4})}});
  const std::string before = fs::read_file(path);
  // The second tensor's dtype is refused after the first is known: nothing is written.
  EXPECT_THROW(
      save_safetensors(path, {{"w", at::zeros({4})}, {"c", at::ones({1}, at::kComplexFloat)}}),
      CheckpointError);
  EXPECT_EQ(fs::read_file(path), before);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u);
}

TEST(SafetensorsTest, ShardedWeightsLoadAsOneAndEveryInconsistencyIsNamed) {
  fs::TempDir dir;
  const at::Tensor a = at::arange(6, at::kFloat).reshape({2, 3});
  const at::Tensor b = at::ones({4}, at::kBFloat16);
  const at::Tensor c = at::arange(3, at::kLong);
  save_safetensors(dir.path() + "/model-00001-of-00002.safetensors", {{"a", a}, {"b", b}});
  save_safetensors(dir.path() + "/model-00002-of-00002.safetensors", {{"c", c}});
  const std::string index = dir.path() + "/model.safetensors.index.json";
  fs::write_file_atomic(index, R"({"metadata": {"total_size": 44}, "weight_map": {
      "a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
      "c": "model-00002-of-00002.safetensors"}})");
  EXPECT_EQ(model_weights_path(dir.path()), index);
  const SafetensorsContent all = load_model_weights(index);
  ASSERT_EQ(all.tensors.size(), 3u);
  EXPECT_TRUE(at::equal(*all.find("a"), a));
  EXPECT_TRUE(at::equal(*all.find("b"), b));
  EXPECT_TRUE(at::equal(*all.find("c"), c));
  // A single file wins when both are there.
  save_safetensors(dir.path() + "/model.safetensors", {{"a", a}});
  EXPECT_EQ(model_weights_path(dir.path()), dir.path() + "/model.safetensors");
  // A shard that holds a tensor the index does not list, then a missing shard.
  auto expect_refused = [&](const std::string& what) {
    try {
      load_model_weights(index);
      ADD_FAILURE() << "accepted; expected: " << what;
    } catch (const CheckpointError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  save_safetensors(dir.path() + "/model-00002-of-00002.safetensors", {{"c", c}, {"d", c}});
  expect_refused("holds tensor 'd', which the index does not list");
  std::filesystem::remove(dir.path() + "/model-00002-of-00002.safetensors");
  expect_refused("shard model-00002-of-00002.safetensors is missing");
}

}  // namespace
}  // namespace infalign::checkpoint
