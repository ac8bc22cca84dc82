#include "infalign/core/error.h"

#include <csignal>

#include <gtest/gtest.h>

namespace infalign {
namespace {

TEST(ErrorTest, CheckThrowsWithFileLineConditionAndMessage) {
  try {
    const int got = 3;
    INFALIGN_CHECK(got == 4, "got {}, expected {}", got, 4);
    FAIL() << "INFALIGN_CHECK did not throw";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("error_test.cpp:"), std::string::npos) << what;
    EXPECT_NE(what.find("`got == 4`"), std::string::npos) << what;
    EXPECT_NE(what.find("got 3, expected 4"), std::string::npos) << what;
  }
}

TEST(ErrorTest, ConfigErrorKeepsEveryMessage) {
  const ConfigError one({"a.yaml:1:1: run.seed: bad"});
  EXPECT_EQ(std::string(one.what()), "a.yaml:1:1: run.seed: bad");
  const ConfigError two({"first", "second"});
  EXPECT_EQ(two.messages().size(), 2u);
  EXPECT_EQ(std::string(two.what()), "2 problems:\n  first\n  second");
}

TEST(ErrorTest, ExceptionChainListsNestedMessagesOutermostFirst) {
  try {
    try {
      throw DataError("data/x.txt:3: bad line");
    } catch (...) {
      std::throw_with_nested(Error("loading corpus"));
    }
  } catch (const std::exception& e) {
    EXPECT_EQ(exception_chain(e),
              (std::vector<std::string>{"loading corpus", "data/x.txt:3: bad line"}));
  }
}

int code_of_nested(const std::exception_ptr& inner) {
  try {
    try {
      std::rethrow_exception(inner);
    } catch (...) {
      std::throw_with_nested(Error("while loading checkpoint runs/x/step_00000005"));
    }
  } catch (const std::exception& e) {
    return exit_code_for(e);
  }
  return -1;
}

TEST(ErrorTest, ExitCodeComesFromTheTypedErrorInTheChain) {
  EXPECT_EQ(exit_code_for(Error("x")), kExitRuntimeFailure);
  EXPECT_EQ(exit_code_for(std::runtime_error("x")), kExitRuntimeFailure);
  EXPECT_EQ(exit_code_for(ConfigError({"x"})), kExitBadConfig);
  EXPECT_EQ(exit_code_for(CheckpointError("x")), kExitBadInputFile);
  EXPECT_EQ(exit_code_for(DataError("x")), kExitBadInputFile);
  EXPECT_EQ(exit_code_for(Interrupted(SIGTERM)), 143);
  EXPECT_EQ(exit_code_for(Interrupted(SIGINT)), 130);
  EXPECT_EQ(
      code_of_nested(std::make_exception_ptr(CheckpointError("model.safetensors: truncated"))),
      kExitBadInputFile);
  EXPECT_EQ(code_of_nested(std::make_exception_ptr(Interrupted(SIGTERM))), 143);
  EXPECT_EQ(code_of_nested(std::make_exception_ptr(std::logic_error("bug"))), kExitRuntimeFailure);
}

}  // namespace
}  // namespace infalign
