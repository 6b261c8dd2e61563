// Invariant checks that stay on in release builds and crash with context (Redpanda's vassert).
// For broken invariants only; expected failures are result<T>.
#pragma once

#include <cstdio>
#include <cstdlib>

#define MF_ASSERT(cond, msg)                                                              \
  do {                                                                                    \
    if (!(cond)) [[unlikely]] {                                                           \
      std::fprintf(stderr, "meterflow: invariant violated at %s:%d: %s (%s)\n", __FILE__, \
                   __LINE__, #cond, (msg));                                               \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)
