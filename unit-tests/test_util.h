// Helpers shared by the unit tests.
#pragma once

#include <gtest/gtest.h>

#include "base/result.h"

namespace meterflow::test {

// Predicate-formatter behind ASSERT_OK / EXPECT_OK: on failure it names the expression and
// prints the error's message. Works for result<void> and result<T>.
template <class T>
::testing::AssertionResult is_ok(const char* expr_text, const result<T>& r) {
  if (r.has_value()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << expr_text << " failed: " << r.error().message;
}

}  // namespace meterflow::test

// ASSERT_OK(store->write(batch)); or, with context, ASSERT_OK(r) << "while loading " << path;
#define ASSERT_OK(r) ASSERT_PRED_FORMAT1(::meterflow::test::is_ok, r)
#define EXPECT_OK(r) EXPECT_PRED_FORMAT1(::meterflow::test::is_ok, r)
