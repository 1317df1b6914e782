// Builds kernels.inc for the baseline x86-64 ISA, for AVX2+FMA and for AVX-512, and dispatches on the running CPU.
// AVX-512 runs only GELU (forward, backward) and the cross-entropy gradient, elementwise kernels heavy in arithmetic:
// their per-element arithmetic is the same on every path, so the results are the same bits (GELU 1.2-1.3x less CPU
// time here; dropout and the bf16 casts, bound by memory, gained nothing and stay on AVX2);
// the reductions (attention, log-softmax, argmax) keep the AVX2 build, whose summation order the runs were made with.
// CYCLENER_NO_AVX512=1 turns it off (test tensor-isa compares the two).
// Only C headers come before the target pragma, so no library code is compiled for AVX2 by accident.
#include "kernels.h"

#include <math.h>
#include <stdlib.h>
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
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")
namespace avx512 {
static constexpr bool kUseSleef = true;
#include "kernels.inc"
}  // namespace avx512
#pragma GCC pop_options
static bool hasAvx2() {
  __builtin_cpu_init();  // may run before libgcc's own constructor has filled in the CPU model
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
static bool hasAvx512() {
  __builtin_cpu_init();
  return hasAvx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
static const bool kAvx2 = hasAvx2();
static const bool kAvx512 = getenv("CYCLENER_NO_AVX512") == nullptr && hasAvx512();
#define CY_DISPATCH(call) (kAvx2 ? avx2::call : base::call)
#define CY_DISPATCH_EW(call) (kAvx512 ? avx512::call : CY_DISPATCH(call))
#else
#define CY_DISPATCH(call) base::call
#define CY_DISPATCH_EW(call) base::call
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
void geluTanh(const void* x, void* y, bool bf16, int64_t n) { CY_DISPATCH_EW(geluTanh(x, y, bf16, n)); }
void geluTanhBackward(const void* g, const void* x, void* dx, bool bf16, int64_t n) { CY_DISPATCH_EW(geluTanhBackward(g, x, dx, bf16, n)); }
void xentGradRows(const void* x, bool bf16, const float* lse, const int64_t* target, int64_t ignore, float scale, int64_t begin, int64_t end, int64_t n, void* dx) {
  CY_DISPATCH_EW(xentGradRows(x, bf16, lse, target, ignore, scale, begin, end, n, dx));
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
