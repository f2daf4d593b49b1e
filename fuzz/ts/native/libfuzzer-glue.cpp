// Links the Jazzer.js addon (sources from the @jazzer.js/fuzzer npm package) against Debian's
// stock libFuzzer instead of Code Intelligence's fork, which its CMake build downloads.
// The fork adds three entry points; these provide them on top of upstream's:
//  - the death callback: upstream libFuzzer hands its "dump the crashing input and the final
//    stats" callback to __sanitizer_set_death_callback (a weak symbol a sanitizer runtime
//    would define); the fork calls __jazzer_set_death_callback instead, which the addon defines.
//  - comparisons and indirect calls with an explicit site id: upstream takes the site from the
//    caller's return address. The compared values still feed libFuzzer's table of recent
//    comparisons (the mutator's dictionary); only -use_value_profile loses the per-site split.
#include <cstdint>

extern "C" {
void __jazzer_set_death_callback(void (*callback)());
void __sanitizer_cov_trace_const_cmp8(uint64_t arg1, uint64_t arg2);
void __sanitizer_cov_trace_pc_indir(uintptr_t callee);

__attribute__((visibility("default"))) void __sanitizer_set_death_callback(void (*callback)()) {
  __jazzer_set_death_callback(callback);
}

__attribute__((visibility("default"))) void __sanitizer_cov_trace_const_cmp8_with_pc(uintptr_t, uint64_t arg1, uint64_t arg2) {
  __sanitizer_cov_trace_const_cmp8(arg1, arg2);
}

__attribute__((visibility("default"))) void __sanitizer_cov_trace_pc_indir_with_pc(void *, uintptr_t callee) {
  __sanitizer_cov_trace_pc_indir(callee);
}
}
