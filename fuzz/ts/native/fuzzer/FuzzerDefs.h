// The two declarations the Jazzer.js addon takes from libFuzzer's private FuzzerDefs.h, which
// Debian's libclang-rt-14-dev does not ship. They match LLVM 14's libFuzzer ABI
// (fuzzer::FuzzerDriver in libclang_rt.fuzzer_no_main-x86_64.a).
#pragma once
#include <cstddef>
#include <cstdint>

namespace fuzzer {
typedef int (*UserCallback)(const uint8_t *Data, size_t Size);
int FuzzerDriver(int *argc, char ***argv, UserCallback Callback);
}  // namespace fuzzer
