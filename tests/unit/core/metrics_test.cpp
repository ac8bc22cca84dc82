#include "infalign/core/metrics.h"

#include <cmath>

#include <gtest/gtest.h>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"

namespace infalign {
namespace {

TEST(MetricsWriterTest, WritesOneOrderedJsonObjectPerLine) {
  fs::TempDir dir;
  const std::string path = dir.path() + "/metrics.jsonl";
  {
    MetricsWriter writer(path);
    writer.write(1, 0.5, {{"objective/kl", 0.25}, {"loss/policy_avg", -1.5}});
    writer.write(2, 1.0, {{"objective/kl", std::nan("")}, {"lr/policy", 1e-5}});
  }
  EXPECT_EQ(fs::read_file(path),
            "{\"step\":1,\"wall_seconds\":0.5,\"objective/kl\":0.25,\"loss/policy_avg\":-1.5}\n"
            "{\"step\":2,\"wall_seconds\":1.0,\"objective/kl\":null,\"lr/policy\":1e-05}\n");
}

TEST(MetricsWriterTest, ResumeDropsRecordsAfterTheCheckpointAndATornLine) {
  fs::TempDir dir;
  const std::string path = dir.path() + "/metrics.jsonl";
  fs::write_file_atomic(path,
                        "{\"step\":1,\"wall_seconds\":1,\"x\":1}\n"
                        "{\"step\":2,\"wall_seconds\":2,\"x\":2}\n"
                        "{\"step\":3,\"wall_seconds\":3,\"x\":3}\n"
                        "{\"step\":4,\"wall_sec");
  {
    MetricsWriter writer(path, 2);
    writer.write(3, 3.5, {{"x", 30}});
  }
  EXPECT_EQ(fs::read_file(path),
            "{\"step\":1,\"wall_seconds\":1,\"x\":1}\n"
            "{\"step\":2,\"wall_seconds\":2,\"x\":2}\n"
            "{\"step\":3,\"wall_seconds\":3.5,\"x\":30.0}\n");
}

TEST(MetricsWriterTest, CorruptRecordInTheMiddleIsADataErrorNamingTheLine) {
  fs::TempDir dir;
  const std::string path = dir.path() + "/metrics.jsonl";
  fs::write_file_atomic(path, "{\"step\":1}\nnot json\n{\"step\":2}\n");
  try {
    MetricsWriter writer(path, 1);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":2:"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace infalign
