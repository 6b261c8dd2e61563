// Reads a file line by line in large blocks, without a copy per line. Lines end at '\n'; the
// '\n' is not part of the line; a final line without '\n' is still a line.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace meterflow {

class line_reader {
 public:
  static result<std::unique_ptr<line_reader>> open(const std::string& path);
  ~line_reader();

  // The next line (valid until the next call), or nullopt at end of file. Read errors: error.
  result<std::optional<std::string_view>> next();
  // Replaces `lines` by the next lines, at most `max` (>= 1), all valid until the next call of
  // either function; empty at end of file. Read errors: error.
  result<void> next_batch(std::vector<std::string_view>& lines, size_t max);
  // The file's size in bytes if it is a regular file (not a pipe or a terminal).
  std::optional<uint64_t> regular_file_size() const;

 private:
  explicit line_reader(std::FILE* f, std::string path) : file_(f), path_(std::move(path)) {}
  bool fill();
  // The next complete line already in the buffer (no read), or nullopt.
  std::optional<std::string_view> buffered_line();

  std::FILE* file_;
  std::string path_;
  std::string buffer_;
  size_t begin_ = 0;  // first unread byte in buffer_
  bool eof_ = false;
};

}  // namespace meterflow
