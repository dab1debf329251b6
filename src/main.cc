#include <cstdio>

#include "exit_status.h"
#include "version.h"

int main() {
  std::printf("lastcall %s\n", lastcall::kVersion);
  return lastcall::kExitDrained;
}
