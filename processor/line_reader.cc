#include "processor/line_reader.h"

#include <cerrno>
#include <cstring>

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

result<std::optional<std::string_view>> line_reader::next() {
  size_t scan_from = begin_;
  for (;;) {
    const char* start = buffer_.data() + scan_from;
    const void* nl = std::memchr(start, '\n', buffer_.size() - scan_from);
    if (nl) {
      size_t end = static_cast<const char*>(nl) - buffer_.data();
      std::string_view line(buffer_.data() + begin_, end - begin_);
      begin_ = end + 1;
      return line;
    }
    size_t consumed = begin_;
    if (!fill()) {
      if (std::ferror(file_)) return fail(path_, ": read error");
      if (begin_ >= buffer_.size()) return std::optional<std::string_view>();
      std::string_view line(buffer_.data() + begin_, buffer_.size() - begin_);
      begin_ = buffer_.size();
      return line;
    }
    scan_from = scan_from - consumed;  // fill() moved the unread bytes to the front
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
    const char* start = buffer_.data() + begin_;
    const void* nl = std::memchr(start, '\n', buffer_.size() - begin_);
    if (!nl) break;
    const size_t end = static_cast<const char*>(nl) - buffer_.data();
    lines.emplace_back(start, end - begin_);
    begin_ = end + 1;
  }
  return {};
}

}  // namespace meterflow
