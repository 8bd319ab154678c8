#include "http/upload_file.hpp"


#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace crm::http {

upload_file::upload_file(std::string path, std::string boundary, bool discard)
    : path_(std::move(path)), discard_(discard) {
  if (!boundary.empty()) {
    multipart_ = std::make_unique<protocols::multipart_reader>(
        std::move(boundary),
        [this](const protocols::multipart_part& p) {
          in_file_part_ = p.has_filename || p.name == "file";
          if (!in_file_part_) return true;  // another field: dropped
          if (file_part_seen_) return false;
          file_part_seen_ = true;
          part_filename_ = p.filename;
          part_content_type_ = p.content_type;
          return true;
        },
        [this](std::string_view bytes) {
          if (in_file_part_) store(bytes);
          return true;
        });
  }
  if (discard_) return;
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) fail("the quarantine cannot take the upload", true);
}

upload_file::~upload_file() {
  if (fd_ >= 0) ::close(fd_);
  if (!discard_ && !kept_) ::unlink(path_.c_str());
}

void upload_file::remove() {
  if (!discard_) ::unlink(path_.c_str());
  kept_ = true;  // nothing left for the destructor
}

void upload_file::fail(std::string why, bool disk) {
  if (!error_.empty()) return;
  error_ = std::move(why);
  disk_error_ = disk;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!discard_) ::unlink(path_.c_str());
}

void upload_file::store(std::string_view bytes) {
  size_ += bytes.size();
  if (discard_ || failed()) return;
  sha_.add(bytes);
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("the quarantine cannot take the upload (disk full?)", true);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void upload_file::write(const char* data, size_t n) {
  if (failed()) return;
  if (!multipart_) return store({data, n});
  if (!multipart_->feed({data, n})) fail("the multipart/form-data body is malformed: " + multipart_->error());
}

void upload_file::finish() {
  if (finished_) return;
  finished_ = true;
  if (!failed() && multipart_) {
    if (!multipart_->complete()) fail("the multipart/form-data body ends before its closing boundary");
    else if (!file_part_seen_) fail("the form has no file part (a part with a filename)");
  }
  // No fsync here (it would stall the I/O thread): a crashed process loses
  // nothing in the page cache; the job checks the size before it starts.
  if (fd_ >= 0 && ::close(fd_) != 0) fail("the quarantine cannot take the upload", true);
  fd_ = -1;
  sha256_ = sha_.hex();
}

file_body::~file_body() {
  if (fd >= 0) ::close(fd);
}

} // namespace crm::http
