// Files: atomic writes (tmp -> fsync -> rename -> fsync dir), whole-file reads, gzip, SHA-256,
// temp dirs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace infalign::fs {

// Reads the whole file. Throws infalign::Error naming the path when it cannot be read.
std::string read_file(const std::string& path);

// Writes `content` to `path` so that readers see the old file or the new one, never a mix:
// writes `path.tmp.<pid>`, fsyncs it, renames it over `path`, fsyncs the directory.
void write_file_atomic(const std::string& path, std::string_view content);

// A file written in pieces (so a large one never sits whole in memory) that appears at `path`
// only when commit() succeeds, as write_file_atomic does it. Destroyed uncommitted (an error on
// the way), it removes its temporary file and leaves `path` as it was.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  void write(std::string_view bytes);
  void commit();

 private:
  std::string path_, tmp_;
  int fd_ = -1;
};

// A file opened for reads at given offsets (pread), so parts of a large file can go straight
// into their destination. Throws infalign::Error naming the path.
class FileReader {
 public:
  explicit FileReader(std::string path);
  ~FileReader();
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;
  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Reads exactly `n` bytes at `offset` into `out`; throws if the file ends first.
  void read_at(std::uint64_t offset, void* out, std::uint64_t n) const;

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// The gzip format (RFC 1952) of `bytes`, one member; concatenated members are a valid gzip file.
std::string gzip_compress(std::string_view bytes);
// The uncompressed bytes of a gzip file (all its members). Throws infalign::DataError naming
// `name` on corrupt input.
std::string gzip_decompress(std::string_view bytes, const std::string& name);

// Creates the directory and its parents if missing. Throws infalign::Error on failure.
void create_directories(const std::string& path);

// fsyncs a directory so that a rename inside it is durable.
void sync_directory(const std::string& path);

// Incremental SHA-256 (FIPS 180-4).
class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  // 64 lower-case hex digits. The object must not be updated afterwards.
  std::string hex_digest();

 private:
  void compress(const unsigned char* block);
  std::uint32_t state_[8];
  unsigned char buffer_[64];
  std::uint64_t length_bytes_ = 0;
  std::size_t buffered_ = 0;
};

std::string sha256_hex(std::string_view bytes);
// Streams the file. Throws infalign::Error naming the path when it cannot be read.
std::string sha256_file(const std::string& path);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "infalign");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace infalign::fs
