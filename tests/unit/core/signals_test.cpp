#include "infalign/core/signals.h"

#include <csignal>

#include <gtest/gtest.h>

#include "infalign/core/error.h"

namespace infalign::signals {
namespace {

TEST(SignalsTest, SigtermBecomesAStopRequestNotADeath) {
  install_stop_handlers();
  reset_stop_request();
  EXPECT_FALSE(stop_requested());
  EXPECT_NO_THROW(throw_if_stop_requested());
  std::raise(SIGTERM);
  EXPECT_TRUE(stop_requested());
  EXPECT_EQ(stop_signal(), SIGTERM);
  try {
    throw_if_stop_requested();
    FAIL() << "expected Interrupted";
  } catch (const Interrupted& e) {
    EXPECT_EQ(e.signal_number(), SIGTERM);
    EXPECT_EQ(exit_code_for(e), 143);
  }
  reset_stop_request();
  std::raise(SIGINT);
  EXPECT_EQ(stop_signal(), SIGINT);
  reset_stop_request();
  EXPECT_FALSE(stop_requested());
}

}  // namespace
}  // namespace infalign::signals
