#include "processor/huge_page_malloc.h"

#include <cstdlib>

#include <unistd.h>

namespace meterflow {

void use_huge_page_malloc(char** argv) {
#ifdef __GLIBC__
  if (std::getenv("GLIBC_TUNABLES") != nullptr) return;
  if (setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("GLIBC_TUNABLES");  // the exec failed: carry on as started
#else
  (void)argv;
#endif
}

}  // namespace meterflow
