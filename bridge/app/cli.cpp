#include "bridge/app/cli.hpp"

#include <cstdio>

namespace reportbridge::app {
int main(int, char**) {
  std::puts("reportbridge " REPORTBRIDGE_VERSION);
  return kExitOk;
}
}  // namespace reportbridge::app
