#include "infalign/core/fs.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "infalign/core/error.h"

namespace infalign::fs {
namespace {

// FIPS 180-4 / NIST example vectors.
TEST(Sha256Test, MatchesPublishedVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, IncrementalUpdatesEqualOneShot) {
  Sha256 h;
  const std::string million(1000000, 'a');
  for (std::size_t i = 0; i < million.size(); i += 997)
    h.update(std::string_view(million).substr(i, 997));
  EXPECT_EQ(h.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Block-boundary lengths (55, 56, 63, 64, 65 bytes) exercise the padding branches.
  for (std::size_t n : {55u, 56u, 63u, 64u, 65u}) {
    const std::string text(n, 'x');
    Sha256 split;
    split.update(std::string_view(text).substr(0, n / 2));
    split.update(std::string_view(text).substr(n / 2));
    EXPECT_EQ(split.hex_digest(), sha256_hex(text)) << n;
  }
}

TEST(FsTest, AtomicWriteReplacesContentAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.path() + "/state.json";
  write_file_atomic(path, "first");
  EXPECT_EQ(read_file(path), "first");
  write_file_atomic(path, std::string("second\0with nul", 15));
  EXPECT_EQ(read_file(path), std::string("second\0with nul", 15));
  std::size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    ++entries;
    EXPECT_EQ(entry.path().filename(), "state.json");
  }
  EXPECT_EQ(entries, 1u);
  EXPECT_EQ(sha256_file(path), sha256_hex(std::string("second\0with nul", 15)));
}

TEST(FsTest, AtomicWriterShowsTheFileOnlyAfterCommitAndCleansUpWhenAbandoned) {
  TempDir dir;
  const std::string path = dir.path() + "/f.bin";
  write_file_atomic(path, "old");
  {
    AtomicFileWriter out(path);
    out.write("new ");
    out.write("content");
    EXPECT_EQ(read_file(path), "old");  // not yet committed
  }                                     // abandoned: the old file stays, the temporary one is gone
  EXPECT_EQ(read_file(path), "old");
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u);
  AtomicFileWriter out(path);
  out.write("new ");
  out.write("content");
  out.commit();
  EXPECT_EQ(read_file(path), "new content");
}

TEST(FsTest, FileReaderReadsRangesAndNamesTheFileWhenItEndsEarly) {
  TempDir dir;
  const std::string path = dir.path() + "/f.bin";
  write_file_atomic(path, "0123456789");
  const FileReader in(path);
  EXPECT_EQ(in.size(), 10u);
  char buf[4] = {};
  in.read_at(3, buf, 4);
  EXPECT_EQ(std::string(buf, 4), "3456");
  try {
    in.read_at(8, buf, 4);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_THROW(FileReader(dir.path() + "/missing"), Error);
}

TEST(FsTest, ErrorsNameThePath) {
  TempDir dir;
  const std::string missing = dir.path() + "/no/such/dir/file.txt";
  try {
    write_file_atomic(missing, "x");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  try {
    read_file(missing);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
}

TEST(FsTest, TempDirIsRemovedWithItsContents) {
  std::string path;
  {
    TempDir dir("fs-test");
    path = dir.path();
    create_directories(path + "/a/b");
    write_file_atomic(path + "/a/b/c.txt", "x");
    EXPECT_TRUE(std::filesystem::exists(path + "/a/b/c.txt"));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace infalign::fs
