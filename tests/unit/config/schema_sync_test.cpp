// The config headers and the schema must list the same fields: a field declared in
// include/infalign/config/<section>_config.h but not registered in src/config/schema.cpp (or
// the reverse) fails here. Every field must also have a default and a comment.
#include <set>

#include <gtest/gtest.h>

#include "infalign/config/load.h"

#include "config_headers.h"

namespace infalign::config {
namespace {

TEST(SchemaSyncTest, HeadersAndSchemaListTheSameDocumentedFields) {
  const auto headers = testing::read_config_headers();
  EXPECT_EQ(headers.sections.size(), 15u);
  for (const auto& problem : headers.problems) ADD_FAILURE() << problem;
  std::vector<std::string> from_headers;
  for (const auto& field : headers.fields) from_headers.push_back(field.key);
  // Same keys in the same order: the dump and the docs follow the header order.
  EXPECT_EQ(config_keys(), from_headers);
  const auto keys = config_keys();
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), keys.size())
      << "a key is registered twice";
}

}  // namespace
}  // namespace infalign::config
