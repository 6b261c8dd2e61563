// Helpers shared by the unit tests.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "base/result.h"

namespace meterflow::test {

// Predicate-formatter behind ASSERT_OK / EXPECT_OK: on failure it names the expression and
// prints the error's message. Works for result<void> and result<T>.
template <class T>
::testing::AssertionResult is_ok(const char* expr_text, const result<T>& r) {
  if (r.has_value()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << expr_text << " failed: " << r.error().message;
}

// A fresh directory under the test temp dir, removed (with its contents) on destruction.
class temp_dir {
 public:
  temp_dir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::path(::testing::TempDir()) /
            ("meterflow-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace meterflow::test

namespace meterflow {
using test::temp_dir;
}

// ASSERT_OK(store->write(batch)); or, with context, ASSERT_OK(r) << "while loading " << path;
#define ASSERT_OK(r) ASSERT_PRED_FORMAT1(::meterflow::test::is_ok, r)
#define EXPECT_OK(r) EXPECT_PRED_FORMAT1(::meterflow::test::is_ok, r)
