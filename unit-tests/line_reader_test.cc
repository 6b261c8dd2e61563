// line_reader: lines across its 4 MiB blocks, one by one and in batches.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "processor/line_reader.h"

namespace meterflow {
namespace {

// ~9 MiB of lines of varying length (so lines straddle block ends), blank ones among them, the
// last without its '\n'.
std::vector<std::string> write_lines(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 60'000; ++i) {
    std::string line = i % 1000 == 7 ? "" : "line " + std::to_string(i) + " " + std::string(i % 301, 'x');
    lines.push_back(line);
    out << line;
    if (i + 1 < 60'000) out << '\n';
  }
  return lines;
}

TEST(LineReaderTest, BatchesHoldValidLinesAcrossBlocks) {
  const auto path = std::filesystem::temp_directory_path() / ("line_reader_test_" + std::to_string(::getpid()));
  const auto expected = write_lines(path);
  for (size_t max : {1, 7, 256}) {
    auto reader = line_reader::open(path.string());
    ASSERT_TRUE(reader.has_value());
    std::vector<std::string> got;
    std::vector<std::string_view> batch;
    for (;;) {
      ASSERT_TRUE((*reader)->next_batch(batch, max).has_value());
      if (batch.empty()) break;
      ASSERT_LE(batch.size(), max);
      // Every line of the batch is still intact once the batch is complete.
      for (std::string_view line : batch) got.emplace_back(line);
    }
    EXPECT_EQ(got, expected) << "max " << max;
  }
  // Mixed with next(): the same lines in the same order.
  auto reader = line_reader::open(path.string());
  ASSERT_TRUE(reader.has_value());
  std::vector<std::string> got;
  std::vector<std::string_view> batch;
  for (bool single = true;; single = !single) {
    if (single) {
      auto line = (*reader)->next();
      ASSERT_TRUE(line.has_value());
      if (!*line) break;
      got.emplace_back(**line);
    } else {
      ASSERT_TRUE((*reader)->next_batch(batch, 100).has_value());
      if (batch.empty()) break;
      for (std::string_view line : batch) got.emplace_back(line);
    }
  }
  EXPECT_EQ(got, expected);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace meterflow
