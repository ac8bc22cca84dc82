# GoogleTest 1.12 (Debian 12 libgtest-dev).
find_package(GTest REQUIRED)
include(GoogleTest)
