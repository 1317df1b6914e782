// Builds kernels.inc for the baseline x86-64 ISA and for AVX2+FMA, and dispatches on the running CPU.
// Only C headers come before the target pragma, so no library code is compiled for AVX2 by accident.
#include "kernels.h"

#include <math.h>
#include <string.h>

#include <cstring>

namespace cy {
namespace kern {
namespace base {
static constexpr bool kUseSleef = false;
#include "kernels.inc"
}  // namespace base

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
static constexpr bool kUseSleef = true;
#include "kernels.inc"
}  // namespace avx2
#pragma GCC pop_options
static bool hasAvx2() {
  __builtin_cpu_init();  // may run before libgcc's own constructor has filled in the CPU model
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
static const bool kAvx2 = hasAvx2();
#define CY_DISPATCH(call) (kAvx2 ? avx2::call : base::call)
#else
#define CY_DISPATCH(call) base::call
#endif

void attentionRows(const AttentionArgs& a, int64_t begin, int64_t end, float* scratch) {
  CY_DISPATCH(attentionRows(a, begin, end, scratch));
}

void argmaxRows(const void* x, bool bf16, int64_t begin, int64_t end, int64_t n, int64_t* out) {
  CY_DISPATCH(argmaxRows(x, bf16, begin, end, n, out));
}

void logsumexpRows(const void* x, bool bf16, int64_t begin, int64_t end, int64_t n, float* out) {
  CY_DISPATCH(logsumexpRows(x, bf16, begin, end, n, out));
}
void logSoftmaxRows(const float* x, int64_t begin, int64_t end, int64_t n, float* out) {
  CY_DISPATCH(logSoftmaxRows(x, begin, end, n, out));
}
void geluTanh(const void* x, void* y, bool bf16, int64_t n) { CY_DISPATCH(geluTanh(x, y, bf16, n)); }
void geluTanhBackward(const void* g, const void* x, void* dx, bool bf16, int64_t n) { CY_DISPATCH(geluTanhBackward(g, x, dx, bf16, n)); }
void xentGradRows(const void* x, bool bf16, const float* lse, const int64_t* target, int64_t ignore, float scale, int64_t begin, int64_t end, int64_t n, void* dx) {
  CY_DISPATCH(xentGradRows(x, bf16, lse, target, ignore, scale, begin, end, n, dx));
}
void dropout(const void* x, const float* u, float p, float s, bool bf16, uint8_t* keep, void* y, int64_t n) {
  CY_DISPATCH(dropout(x, u, p, s, bf16, keep, y, n));
}
void dropoutBackward(const void* g, const uint8_t* keep, float s, bool bf16, void* out, int64_t n) {
  CY_DISPATCH(dropoutBackward(g, keep, s, bf16, out, n));
}
void bf16ToFloat(const uint16_t* x, float* y, int64_t n) { CY_DISPATCH(bf16ToFloat(x, y, n)); }
void floatToBf16(const float* x, uint16_t* y, int64_t n) { CY_DISPATCH(floatToBf16(x, y, n)); }

}  // namespace kern
}  // namespace cy
