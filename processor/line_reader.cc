#include "processor/line_reader.h"

#include <cerrno>
#include <cstring>

#include <sys/stat.h>

namespace meterflow {

namespace {
constexpr size_t block_size = 4 << 20;
}

result<std::unique_ptr<line_reader>> line_reader::open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return fail(path, ": ", std::strerror(errno));
  return std::unique_ptr<line_reader>(new line_reader(f, path));
}

line_reader::~line_reader() { std::fclose(file_); }

std::optional<uint64_t> line_reader::regular_file_size() const {
  struct stat st {};
  if (fstat(fileno(file_), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return static_cast<uint64_t>(st.st_size);
}

// Moves the unread tail to the front and appends one more block. False at end of file.
bool line_reader::fill() {
  if (eof_) return false;
  buffer_.erase(0, begin_);
  begin_ = 0;
  const size_t old = buffer_.size();
  size_t n = 0;
  // Read straight into the grown string: resize() would first zero the 4 MiB fread overwrites.
  // (The lambda returns the length itself: libstdc++ 12 passes it the grown capacity.)
  buffer_.resize_and_overwrite(old + block_size, [&](char* data, size_t) {
    n = std::fread(data + old, 1, block_size, file_);
    return old + n;
  });
  if (n < block_size) eof_ = true;
  return n > 0;
}

std::optional<std::string_view> line_reader::buffered_line() {
  const void* nl = std::memchr(buffer_.data() + begin_, '\n', buffer_.size() - begin_);
  if (!nl) return std::nullopt;
  const size_t end = static_cast<const char*>(nl) - buffer_.data();
  std::string_view line(buffer_.data() + begin_, end - begin_);
  begin_ = end + 1;
  return line;
}

result<std::optional<std::string_view>> line_reader::next() {
  for (;;) {
    // After a fill this scans the unread tail again: less than one line.
    if (auto line = buffered_line()) return line;
    if (!fill()) {
      if (std::ferror(file_)) return fail(path_, ": read error");
      if (begin_ >= buffer_.size()) return std::optional<std::string_view>();
      std::string_view line(buffer_.data() + begin_, buffer_.size() - begin_);
      begin_ = buffer_.size();
      return line;
    }
  }
}

result<void> line_reader::next_batch(std::vector<std::string_view>& lines, size_t max) {
  lines.clear();
  // The first line may refill the buffer; the others come from what it holds, so a refill
  // (which moves the bytes) never invalidates a line already handed out.
  auto first = next();
  if (!first) return std::unexpected(first.error());
  if (!*first) return {};
  lines.push_back(**first);
  while (lines.size() < max) {
    auto line = buffered_line();
    if (!line) break;
    lines.push_back(*line);
  }
  return {};
}

}  // namespace meterflow
