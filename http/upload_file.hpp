// http/upload_file.hpp
// An upload streamed to disk as it arrives (docs/CONTENT.md): the request
// parser hands each piece of the body here instead of keeping it in memory.
// A raw body is the file; a multipart/form-data body yields its one file
// part (other fields are dropped). The file is created with O_EXCL, mode
// 0600, under a random name the caller chose in the quarantine folder; its
// SHA-256 and size are computed on the way. Unless keep() is called, the
// destructor removes the file: a refused, cut-off or failed upload leaves
// nothing on disk. `discard` mode counts and drops the bytes (a caller that
// may not upload: nothing of theirs touches the disk).
#pragma once
#include "protocols/hex.hpp"
#include "protocols/multipart.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace crm::http {

class upload_file {
public:
  // `boundary` empty: a raw body. Opens the file now (unless `discard`);
  // failed() says whether that worked.
  upload_file(std::string path, std::string boundary, bool discard);
  ~upload_file();
  upload_file(const upload_file&) = delete;
  upload_file& operator=(const upload_file&) = delete;

  // A piece of the request body (I/O thread).
  void write(const char* data, size_t n);
  // The whole body was read: closes the file; a multipart body must have
  // ended with its closing delimiter and carried one file part.
  void finish();

  bool discarded() const { return discard_; }
  bool failed() const { return !error_.empty(); }
  // Why the upload cannot be used (for the problem's detail; never a path).
  const std::string& error() const { return error_; }
  bool disk_error() const { return disk_error_; }
  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  const std::string& sha256() const { return sha256_; }  // hex, after finish()
  // From the multipart file part ("" for a raw body).
  const std::string& part_filename() const { return part_filename_; }
  const std::string& part_content_type() const { return part_content_type_; }

  // The file now belongs to the caller (the content job): not removed.
  void keep() { kept_ = true; }
  // Removes the file now (kept or not).
  void remove();

private:
  void store(std::string_view bytes);
  void fail(std::string why, bool disk = false);

  std::string path_;
  bool discard_;
  int fd_ = -1;
  protocols::sha256_stream sha_;
  std::unique_ptr<protocols::multipart_reader> multipart_;
  bool in_file_part_ = false;
  bool file_part_seen_ = false;
  uint64_t size_ = 0;
  std::string sha256_;
  std::string part_filename_;
  std::string part_content_type_;
  std::string error_;
  bool disk_error_ = false;
  bool finished_ = false;
  bool kept_ = false;
};

// A response body read from a file (a safe artifact), written by the
// connection in chunks, never held whole in memory. Owns the descriptor.
struct file_body {
  int fd = -1;
  uint64_t size = 0;
  explicit file_body(int f, uint64_t s) : fd(f), size(s) {}
  ~file_body();
  file_body(const file_body&) = delete;
  file_body& operator=(const file_body&) = delete;
};

} // namespace crm::http
