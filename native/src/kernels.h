// Small-tensor fast-path loops (kernels.cc): plain pointers in, no ATen, so they can be built for two ISAs.
#pragma once

#include <cstdint>

namespace cy {
namespace kern {

// softmax(q k^T * scale + bias) v for query rows [begin, end) of count * lq (row r: batch r / lq, query r % lq).
// Element offsets of each batch entry in qOff/kOff/vOff/bOff; qs/ks/vs: row strides (inner dims contiguous);
// bias float32 (or null) with row/column strides bs/bc; out contiguous [count, lq, dv]. bf16: q/k/v/out hold
// bfloat16 bits, and scores/probabilities are rounded to bf16 where bf16 matmuls would round them.
struct AttentionArgs {
  const void* q;
  const void* k;
  const void* v;
  const float* bias;
  void* out;
  const int64_t* qOff;
  const int64_t* kOff;
  const int64_t* vOff;
  const int64_t* bOff;
  int64_t lq, d, lk, dv, qs, ks, vs, bs, bc;
  float scale;
  bool bf16;
};

// scratch: d + lk + dv floats.
void attentionRows(const AttentionArgs& a, int64_t begin, int64_t end, float* scratch);
// out[r] = first index of the maximum of row r of x [rows, n] (float32, or bfloat16 bits).
void argmaxRows(const void* x, bool bf16, int64_t begin, int64_t end, int64_t n, int64_t* out);

// out[r] = log(sum(exp(row r))) in float32, rows of x [rows, n] (float32 or bfloat16 bits).
void logsumexpRows(const void* x, bool bf16, int64_t begin, int64_t end, int64_t n, float* out);
// out = x - logsumexp(x) per row of x [rows, n], float32.
void logSoftmaxRows(const float* x, int64_t begin, int64_t end, int64_t n, float* out);
// y = gelu_tanh(x) elementwise over n contiguous elements (float32 or bfloat16 bits), computed in float32.
void geluTanh(const void* x, void* y, bool bf16, int64_t n);
// dx = g * gelu_tanh'(x) elementwise over n contiguous elements of the same dtype, computed in float32.
void geluTanhBackward(const void* g, const void* x, void* dx, bool bf16, int64_t n);
// dx rows [begin, end) = (softmax(x) - onehot(target)) * scale in x's dtype (float32 or bfloat16 bits), from each row's
// logsumexp `lse`; rows with target == ignore get 0.
void xentGradRows(const void* x, bool bf16, const float* lse, const int64_t* target, int64_t ignore, float scale, int64_t begin, int64_t end, int64_t n, void* dx);
// Inverted dropout over n contiguous float32 / bfloat16 elements: keep = !(u < p), y = keep ? x * s : 0 (s: the scale
// rounded to x's dtype); the backward: out = keep ? g * s : 0.
void dropout(const void* x, const float* u, float p, float s, bool bf16, uint8_t* keep, void* y, int64_t n);
void dropoutBackward(const void* g, const uint8_t* keep, float s, bool bf16, void* out, int64_t n);
// bfloat16 (bits) <-> float32 over n contiguous elements, as c10 converts.
void bf16ToFloat(const uint16_t* x, float* y, int64_t n);
void floatToBf16(const float* x, uint16_t* y, int64_t n);

}  // namespace kern
}  // namespace cy
