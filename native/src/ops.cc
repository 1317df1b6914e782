// Tensor ops: one exported function per op, taking tensor ids and plain numbers and returning an id,
// so a call costs one napi round trip and no per-call JS object in C++ beyond the result number.
// Scalar variants ("addS") exist so JS never has to materialise a tensor for a number.
#include "common.h"
#include "kernels.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ExpandUtils.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/Reduction.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <initializer_list>
#include <vector>

namespace cy {
namespace {

#define OP(NAME, EXPR) \
  { NAME, [](Call& c) -> Napi::Value { return EXPR; } }
#define VOID_OP(NAME, STMT) \
  { NAME, [](Call& c) -> Napi::Value { STMT; return c.undef(); } }

// ---- small-tensor fast paths -------------------------------------------------------------------
// At decoder-step sizes libtorch 1.13 spends most of its time outside the arithmetic: bmm runs one gemm call per
// batch entry, argmax does not vectorize, bf16 converts element by element, rmsNorm is seven kernels. The loops in
// kernels.inc take contiguous (inner dim) CPU float32 / bf16 inputs when no gradient is wanted, with libtorch's
// semantics: results equal up to summation order (bit-identical where noted), libtorch's kernels otherwise.

bool gradNeeded(std::initializer_list<const at::Tensor*> ts) {
  if (!at::GradMode::is_enabled()) return false;
  for (const at::Tensor* t : ts)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

// Element offset of each entry of the (flattened) batch dims [0, nb) of a strided tensor, in row-major order.
std::vector<int64_t> batchOffsets(const at::Tensor& t, int64_t nb, int64_t count) {
  std::vector<int64_t> off(static_cast<size_t>(count));
  std::vector<int64_t> idx(static_cast<size_t>(nb), 0);
  int64_t cur = 0;
  for (int64_t b = 0; b < count; ++b) {
    off[b] = cur;
    for (int64_t d = nb - 1; d >= 0; --d) {
      if (++idx[d] < t.size(d)) {
        cur += t.stride(d);
        break;
      }
      cur -= t.stride(d) * (t.size(d) - 1);
      idx[d] = 0;
    }
  }
  return off;
}

// The mean of squares comes from libtorch's own kernels (its summation order, so results are bit-identical to the
// composite below); the rest, (x * rsqrt(var + eps)) * w, is one loop instead of four kernels.
at::Tensor rmsNormFast(const at::Tensor& x, const at::Tensor& w, float eps) {
  const at::Tensor h = x.scalar_type() == at::kFloat ? x : x.to(at::kFloat);
  const at::Tensor var = h.pow(2).mean(-1, true).contiguous();
  const int64_t n = h.size(-1), rows = h.numel() / n;
  at::Tensor out = at::empty(h.sizes(), h.options());
  const float* hp = h.data_ptr<float>();
  const float* vp = var.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, rows, std::max<int64_t>(1, 32768 / n), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float inv = 1.f / std::sqrt(vp[r] + eps);
      const float* a = hp + r * n;
      float* o = op + r * n;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) o[i] = wp[i] * (a[i] * inv);
    }
  });
  return out;
}

Napi::Value argmaxOp(Call& c) {
  const at::Tensor& t = c.t(0);
  const int64_t dim = c.i64(1);
  const bool keep = c.b(2);
  const int64_t nd = t.dim();
  if (nd >= 1 && (dim == -1 || dim == nd - 1) && t.is_cpu() && t.is_contiguous() && t.size(-1) > 0 &&
      (t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16)) {
    std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
    if (keep) shape.back() = 1;
    else shape.pop_back();
    at::Tensor out = at::empty(shape, t.options().dtype(at::kLong));
    const int64_t n = t.size(-1), rows = t.numel() / n;
    const void* x = t.data_ptr();
    const bool bf16 = t.scalar_type() == at::kBFloat16;
    int64_t* o = out.data_ptr<int64_t>();
    at::parallel_for(0, rows, std::max<int64_t>(1, 65536 / n), [&](int64_t begin, int64_t end) { kern::argmaxRows(x, bf16, begin, end, n, o); });
    return c.ret(out);
  }
  return c.ret(at::argmax(t, dim, keep));
}

// float32 <-> bfloat16 of a contiguous CPU tensor without autograd: a vectorised loop (libtorch 1.13 converts
// element by element, ~1 ns each); other conversions go to Tensor::to.
Napi::Value toOp(Call& c) {
  const at::Tensor& t = c.t(0);
  const at::ScalarType to = scalarType(c.i32(1));
  const at::ScalarType from = t.scalar_type();
  if (t.is_cpu() && t.is_contiguous() && !gradNeeded({&t}) &&
      ((from == at::kBFloat16 && to == at::kFloat) || (from == at::kFloat && to == at::kBFloat16))) {
    at::Tensor out = at::empty(t.sizes(), t.options().dtype(to));
    const int64_t n = t.numel();
    const void* x = t.data_ptr();
    void* y = out.data_ptr();
    at::parallel_for(0, n, 32768, [&](int64_t begin, int64_t end) {
      if (from == at::kBFloat16)
        kern::bf16ToFloat(static_cast<const uint16_t*>(x) + begin, static_cast<float*>(y) + begin, end - begin);
      else
        kern::floatToBf16(static_cast<const float*>(x) + begin, static_cast<uint16_t*>(y) + begin, end - begin);
    });
    return c.ret(out);
  }
  return c.ret(t.to(to));
}

// GELU. The tanh approximation (T5 v1.1's gelu_new) of a CPU float32/bf16 tensor runs vectorised loops, forward and,
// through a custom autograd function, backward: libtorch 1.13 takes ~5-15 ns an element for either (its tanh does not
// vectorise here), which was ~18% of a bf16 training step of the shipped model and a decoder step's FFN pays it too.
bool geluFastOk(const at::Tensor& t) {
  return t.is_cpu() && t.numel() > 0 && (t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16);
}

// Elementwise over the contiguous copies of the inputs (views of rows are made contiguous first: one copy).
at::Tensor geluTanhForward(const at::Tensor& input) {
  const at::Tensor t = input.contiguous();
  at::Tensor out = at::empty(t.sizes(), t.options());
  const bool bf16 = t.scalar_type() == at::kBFloat16;
  const size_t es = t.element_size();
  const char* x = static_cast<const char*>(t.data_ptr());
  char* y = static_cast<char*>(out.data_ptr());
  at::parallel_for(0, t.numel(), 16384, [&](int64_t begin, int64_t end) {
    kern::geluTanh(x + begin * es, y + begin * es, bf16, end - begin);
  });
  return out;
}

at::Tensor geluTanhBackwardFast(const at::Tensor& grad, const at::Tensor& input) {
  const at::Tensor x = input.contiguous();
  const at::Tensor g = grad.to(x.scalar_type()).contiguous();
  at::Tensor dx = at::empty(x.sizes(), x.options());
  const bool bf16 = x.scalar_type() == at::kBFloat16;
  const size_t es = x.element_size();
  const char* gp = static_cast<const char*>(g.data_ptr());
  const char* xp = static_cast<const char*>(x.data_ptr());
  char* dp = static_cast<char*>(dx.data_ptr());
  at::parallel_for(0, x.numel(), 16384, [&](int64_t begin, int64_t end) {
    kern::geluTanhBackward(gp + begin * es, xp + begin * es, dp + begin * es, bf16, end - begin);
  });
  return dx;
}

struct GeluTanhFunction : public torch::autograd::Function<GeluTanhFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    ctx->save_for_backward({x});
    at::AutoDispatchBelowADInplaceOrView guard;
    return geluTanhForward(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    return {geluTanhBackwardFast(grads[0], x)};
  }
};

// Uniform draws without libtorch's per-element cost. libtorch 1.13 fills rand() serially, one call of the generator's
// mt19937 through TensorIterator per element (~5 ns: the largest non-matmul item of a training step, for dropout's
// masks). This runs the same recurrence on a copy of the generator's state: the state regenerated 624 words at a time,
// each word tempered and turned into a float as uniform_real_distribution<float> does ((y & (2^24 - 1)) * 2^-24, exact),
// and the state stored back, so the numbers and the stream after them are rand()'s bit for bit (test tensor-basic).
constexpr int kMtN = 624, kMtM = 397;
inline uint32_t mtTwist(uint32_t u, uint32_t v) {
  return ((((u & 0x80000000u) | (v & 0x7fffffffu)) >> 1)) ^ ((v & 1u) ? 0x9908b0dfu : 0u);
}
void mtNextState(uint32_t* s) {  // at::mt19937_engine::next_state, as index loops
  int i = 0;
  for (; i < kMtN - kMtM; ++i) s[i] = s[i + kMtM] ^ mtTwist(s[i], s[i + 1]);
  for (; i < kMtN - 1; ++i) s[i] = s[i + kMtM - kMtN] ^ mtTwist(s[i], s[i + 1]);
  s[kMtN - 1] = s[kMtM - 1] ^ mtTwist(s[kMtN - 1], s[0]);
}
void mtUniforms(const uint32_t* s, float* out, int64_t k) {
  for (int64_t i = 0; i < k; ++i) {
    uint32_t y = s[i];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= (y >> 18);
    out[i] = static_cast<float>(y & 0xffffffu) * 5.9604644775390625e-08f;
  }
}

}  // namespace

at::Tensor randUniform(at::IntArrayRef sizes, const at::TensorOptions& opts) {
  if (!(opts.device().is_cpu() && opts.dtype() == at::kFloat)) return at::rand(sizes, opts);
  at::Tensor u = at::empty(sizes, opts);
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::unique_lock<std::mutex> lock(gen.mutex());
  auto* impl = at::check_generator<at::CPUGeneratorImpl>(gen);
  at::mt19937 eng = impl->engine();
  at::mt19937_data_pod d = eng.data();
  if (d.left_ < 1 || d.next_ + static_cast<uint32_t>(d.left_) > static_cast<uint32_t>(kMtN) + 1) {  // not mt19937's
    lock.unlock();  // at::rand takes the generator's lock itself
    return at::rand(sizes, opts);
  }
  float* out = u.data_ptr<float>();
  uint32_t* s = d.state_.data();
  const int64_t n = u.numel();
  // mt19937's operator(): --left_ == 0 regenerates (left_ = N, next_ = 0), then it returns state[next_++] tempered.
  for (int64_t i = 0; i < n;) {
    const int64_t k = std::min<int64_t>(d.left_ - 1, n - i);  // calls that do not regenerate
    mtUniforms(s + d.next_, out + i, k);
    d.next_ += static_cast<uint32_t>(k);
    d.left_ -= static_cast<int>(k);
    i += k;
    if (i == n) break;
    mtNextState(s);
    d.left_ = kMtN;
    d.next_ = 0;
    mtUniforms(s, out + i, 1);
    d.next_ = 1;
    ++i;
  }
  eng.set_data(d);
  impl->set_engine(eng);
  return u;
}

namespace {

// Inverted dropout on the draws of rand(x.shape) (one float32 uniform per element from the global generator, so the
// random stream is what model.ts's composite drew): y = u < p ? 0 : x * s, with s = 1/(1-p) rounded to x's dtype
// first, as x.maskedFill(rand(x.shape).lt(p), 0).mul(s) computes it (libtorch 1.13's mul casts a Scalar to the
// tensor's dtype; the comparison is in float32). Same values and gradients bit for bit; one pass forward and one
// backward with a byte mask, where the composite ran lt, masked_fill and mul and their backward kernels.
template <typename T>
void dropoutLoop(const T* x, const float* u, float p, T s, bool* keep, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const bool k = !(u[i] < p);
    keep[i] = k;
    y[i] = k ? static_cast<T>(x[i] * s) : T(0);
  }
}
template <typename T>
void dropoutGradLoop(const T* g, const bool* keep, T s, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = keep[i] ? static_cast<T>(g[i] * s) : T(0);
}

at::Tensor dropoutBackwardFast(const at::Tensor& grad, const at::Tensor& keep, double scale) {
  const at::Tensor g = grad.contiguous();
  at::Tensor out = at::empty(g.sizes(), g.options());
  const at::ScalarType st = g.scalar_type();
  if (st == at::kFloat || st == at::kBFloat16) {  // the vectorised loop (kernels.inc)
    const bool bf16 = st == at::kBFloat16;
    const float s = bf16 ? static_cast<float>(c10::BFloat16(static_cast<float>(scale))) : static_cast<float>(scale);
    const size_t es = g.element_size();
    const char* gp = static_cast<const char*>(g.data_ptr());
    const uint8_t* kp = static_cast<const uint8_t*>(keep.data_ptr());
    char* op = static_cast<char*>(out.data_ptr());
    at::parallel_for(0, g.numel(), 32768, [&](int64_t b, int64_t e) {
      kern::dropoutBackward(gp + b * es, kp + b, s, bf16, op + b * es, e - b);
    });
    return out;
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, g.scalar_type(), "dropoutBackward", [&] {
    const scalar_t s = static_cast<scalar_t>(scale);
    const scalar_t* gp = g.data_ptr<scalar_t>();
    const bool* kp = keep.data_ptr<bool>();
    scalar_t* op = out.data_ptr<scalar_t>();
    at::parallel_for(0, g.numel(), 32768, [&](int64_t b, int64_t e) { dropoutGradLoop(gp + b, kp + b, s, op + b, e - b); });
  });
  return out;
}

// y and the keep mask; x float32/float64/bf16/half on the CPU.
std::pair<at::Tensor, at::Tensor> dropoutForwardFast(const at::Tensor& x0, double p) {
  const at::Tensor u = randUniform(x0.sizes(), x0.options().dtype(at::kFloat));
  const at::Tensor x = x0.contiguous();
  at::Tensor y = at::empty(x.sizes(), x.options());
  at::Tensor keep = at::empty(x.sizes(), x.options().dtype(at::kBool));
  const float pf = static_cast<float>(p);
  const at::ScalarType st = x.scalar_type();
  if (st == at::kFloat || st == at::kBFloat16) {  // the vectorised loop (kernels.inc)
    const bool bf16 = st == at::kBFloat16;
    const double scale = 1.0 / (1.0 - p);
    const float s = bf16 ? static_cast<float>(c10::BFloat16(static_cast<float>(scale))) : static_cast<float>(scale);
    const size_t es = x.element_size();
    const char* xp = static_cast<const char*>(x.data_ptr());
    const float* up = u.data_ptr<float>();
    uint8_t* kp = static_cast<uint8_t*>(keep.data_ptr());
    char* yp = static_cast<char*>(y.data_ptr());
    at::parallel_for(0, x.numel(), 32768, [&](int64_t b, int64_t e) {
      kern::dropout(xp + b * es, up + b, pf, s, bf16, kp + b, yp + b * es, e - b);
    });
    return {y, keep};
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, st, "uniformDropout", [&] {
    const scalar_t s = static_cast<scalar_t>(1.0 / (1.0 - p));
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const float* up = u.data_ptr<float>();
    bool* kp = keep.data_ptr<bool>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    at::parallel_for(0, x.numel(), 32768, [&](int64_t b, int64_t e) {
      dropoutLoop(xp + b, up + b, pf, s, kp + b, yp + b, e - b);
    });
  });
  return {y, keep};
}

struct DropoutFunction : public torch::autograd::Function<DropoutFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, double p) {
    auto [y, keep] = dropoutForwardFast(x, p);
    ctx->save_for_backward({keep});
    ctx->saved_data["p"] = p;
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor keep = ctx->get_saved_variables()[0];
    const double p = ctx->saved_data["p"].toDouble();
    return {dropoutBackwardFast(grads[0], keep, 1.0 / (1.0 - p)), at::Tensor()};
  }
};

Napi::Value uniformDropoutOp(Call& c) {
  const at::Tensor& x = c.t(0);
  const double p = c.d(1);
  const at::ScalarType st = x.scalar_type();
  if (!x.is_cpu() || !(st == at::kFloat || st == at::kDouble || st == at::kBFloat16 || st == at::kHalf)) {
    const at::Tensor u = randUniform(x.sizes(), x.options().dtype(at::kFloat));
    return c.ret(at::masked_fill(x, u.lt(p), 0).mul(scalarOf(1.0 / (1.0 - p))));
  }
  if (gradNeeded({&x})) return c.ret(DropoutFunction::apply(x, p));
  return c.ret(dropoutForwardFast(x, p).first);
}

Napi::Value geluOp(Call& c) {
  const at::Tensor& t = c.t(0);
  const bool tanh = c.b(1);
  if (tanh && geluFastOk(t)) return c.ret(gradNeeded({&t}) ? GeluTanhFunction::apply(t) : geluTanhForward(t));
  return c.ret(at::gelu(t, tanh ? "tanh" : "none"));
}

// Whether libtorch 1.13 multiplies a bf16 batch [b, m, k] x [b, k, n] in its small-matrix loop, which rounds every
// partial sum to bf16: when oneDNN's bf16 gemm is out (it needs AVX512 and b*m*k*n > 4096) and k*m*n < 400.
bool bf16NaiveBmm(int64_t b, int64_t m, int64_t k, int64_t n) {
  static const bool onednnBf16 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  }();
  const bool onednn = onednnBf16 && at::globalContext().userEnabledMkldnn() && b * m * k * n > 4096;
  return !onednn && k * m * n < 400;
}

// attention(q [..., Lq, d], k [..., Lk, d], v [..., Lk, dv], bias broadcastable to [..., Lq, Lk] or 0, scale):
// softmax(q k^T * scale + bias) v with the softmax in float32, batch dims broadcast. A fused loop for CPU
// float32/bf16 without autograd (and without autocast of float32 inputs), bit-identical in bf16 to the composite
// (scores and probabilities rounded to bf16 where its matmuls round); the composite (matmul/softmax) otherwise.
Napi::Value attentionOp(Call& c) {
  const at::Tensor& q0 = c.t(0);
  const at::Tensor& k0 = c.t(1);
  const at::Tensor& v0 = c.t(2);
  c10::optional<at::Tensor> bias = c.optT(3);
  const double scale = c.d(4);
  if (q0.dim() < 2 || k0.dim() < 2 || v0.dim() < 2 || q0.size(-1) != k0.size(-1) || k0.size(-2) != v0.size(-2))
    throw std::runtime_error("attention: expected q [..., Lq, d], k [..., Lk, d], v [..., Lk, dv]");
  const at::ScalarType st = q0.scalar_type();
  const bool fast = q0.is_cpu() && k0.is_cpu() && v0.is_cpu() && (!bias || (bias->is_cpu() && bias->scalar_type() == at::kFloat)) &&
                    (st == at::kFloat || st == at::kBFloat16) && k0.scalar_type() == st && v0.scalar_type() == st &&
                    !(st == at::kFloat && at::autocast::is_cpu_enabled()) &&
                    !gradNeeded({&q0, &k0, &v0, bias ? &*bias : nullptr});
  auto composite = [&] {
    at::Tensor s = at::matmul(q0, k0.transpose(-2, -1));
    if (scale != 1.0) s = s * scale;
    if (bias) s = s + *bias;
    at::Tensor p = at::softmax(s.scalar_type() == at::kDouble ? s : s.to(at::kFloat), -1);
    if (!at::autocast::is_cpu_enabled() && p.scalar_type() != v0.scalar_type()) p = p.to(v0.scalar_type());
    return at::matmul(p, v0);
  };
  if (!fast) return c.ret(composite());
  auto inner = [](const at::Tensor& t) { return t.size(-1) <= 1 || t.stride(-1) == 1 ? t : t.contiguous(); };
  const at::Tensor q1 = inner(q0), k1 = inner(k0), v1 = inner(v0);
  auto batchOf = [](const at::Tensor& t) { return t.sizes().slice(0, t.dim() - 2).vec(); };
  std::vector<int64_t> batch = at::infer_size(at::infer_size(batchOf(q1), batchOf(k1)), batchOf(v1));
  if (bias && bias->dim() > 2) batch = at::infer_size(batch, bias->sizes().slice(0, bias->dim() - 2));
  const int64_t nb = static_cast<int64_t>(batch.size());
  int64_t count = 1;
  for (int64_t s : batch) count *= s;
  auto full = [&](int64_t a, int64_t b) {
    std::vector<int64_t> f = batch;
    f.push_back(a);
    f.push_back(b);
    return f;
  };
  const int64_t lq = q1.size(-2), d = q1.size(-1), lk = k1.size(-2), dv = v1.size(-1);
  // Where libtorch's bf16 bmm would round every partial sum, the composite keeps its results.
  if (st == at::kBFloat16 && (bf16NaiveBmm(count, lq, d, lk) || bf16NaiveBmm(count, lq, lk, dv))) return c.ret(composite());
  const at::Tensor q = q1.expand(full(lq, d)), k = k1.expand(full(lk, d)), v = v1.expand(full(lk, dv));
  at::Tensor be;
  if (bias) be = bias->expand(full(lq, lk));
  at::Tensor out = at::empty(full(lq, dv), q0.options());
  if (count * lq == 0 || dv == 0) return c.ret(out);
  const auto qo = batchOffsets(q, nb, count), ko = batchOffsets(k, nb, count), vo = batchOffsets(v, nb, count);
  const auto bo = bias ? batchOffsets(be, nb, count) : std::vector<int64_t>();
  kern::AttentionArgs a{q.data_ptr(), k.data_ptr(), v.data_ptr(), bias ? be.data_ptr<float>() : nullptr, out.data_ptr(),
                        qo.data(), ko.data(), vo.data(), bias ? bo.data() : nullptr,
                        lq, d, lk, dv, q.stride(-2), k.stride(-2), v.stride(-2), bias ? be.stride(-2) : 0, bias ? be.stride(-1) : 0,
                        static_cast<float>(scale), st == at::kBFloat16};
  at::parallel_for(0, count * lq, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, lk * (d + dv))), [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(d + lk + dv));
    kern::attentionRows(a, begin, end, scratch.data());
  });
  return c.ret(out);
}

// Reductions: dims may be omitted (reduce everything), a number, or an array of numbers.
Napi::Value sumOp(Call& c) {
  const at::Tensor& t = c.t(0);
  if (!c.has(1)) return c.ret(at::sum(t));
  auto d = c.ints(1);
  return c.ret(at::sum(t, at::IntArrayRef(d), c.b(2)));
}
Napi::Value meanOp(Call& c) {
  const at::Tensor& t = c.t(0);
  if (!c.has(1)) return c.ret(at::mean(t));
  auto d = c.ints(1);
  return c.ret(at::mean(t, at::IntArrayRef(d), c.b(2)));
}
Napi::Value maxOp(Call& c) {
  const at::Tensor& t = c.t(0);
  if (!c.has(1)) return c.ret(at::max(t));
  return c.ret(std::get<0>(at::max(t, c.i64(1), c.b(2))));
}
Napi::Value minOp(Call& c) {
  const at::Tensor& t = c.t(0);
  if (!c.has(1)) return c.ret(at::min(t));
  return c.ret(std::get<0>(at::min(t, c.i64(1), c.b(2))));
}
// Last-dim reductions of a contiguous CPU float32 tensor without autograd, by the vectorised loops in kernels.inc.
bool lastDimFast(const at::Tensor& t, int64_t dim) {
  const int64_t nd = t.dim();
  return nd >= 1 && (dim == -1 || dim == nd - 1) && t.is_cpu() && t.is_contiguous() && t.scalar_type() == at::kFloat &&
         t.size(-1) > 0 && !gradNeeded({&t});
}
Napi::Value logSoftmaxOp(Call& c) {
  const at::Tensor& t = c.t(0);
  const int64_t dim = c.i64(1);
  if (!lastDimFast(t, dim)) return c.ret(at::log_softmax(t, dim));
  at::Tensor out = at::empty(t.sizes(), t.options());
  const int64_t n = t.size(-1), rows = t.numel() / n;
  const float* x = t.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, rows, std::max<int64_t>(1, 65536 / n), [&](int64_t begin, int64_t end) { kern::logSoftmaxRows(x, begin, end, n, o); });
  return c.ret(out);
}
Napi::Value logsumexpOp(Call& c) {
  const at::Tensor& t = c.t(0);
  auto d = c.ints(1);
  // Fast path: float32, last dim, contiguous, no autograd (a vectorised exp; within a few ulp of libtorch's).
  if (d.size() == 1 && lastDimFast(t, d[0])) {
    std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
    if (c.b(2)) shape.back() = 1;
    else shape.pop_back();
    at::Tensor out = at::empty(shape, t.options());
    const int64_t n = t.size(-1), rows = t.numel() / n;
    const float* x = t.data_ptr<float>();
    float* o = out.data_ptr<float>();
    at::parallel_for(0, rows, std::max<int64_t>(1, 65536 / n), [&](int64_t begin, int64_t end) { kern::logsumexpRows(x, false, begin, end, n, o); });
    return c.ret(out);
  }
  return c.ret(at::logsumexp(t, at::IntArrayRef(d), c.b(2)));
}
Napi::Value topkOp(Call& c) {
  auto r = at::topk(c.t(0), c.i64(1), c.i64(2), c.b(3), true);
  return c.ret2(std::get<0>(r), std::get<1>(r));
}
Napi::Value sortOp(Call& c) {
  auto r = at::sort(c.t(0), c.i64(1), c.b(2));
  return c.ret2(std::get<0>(r), std::get<1>(r));
}
Napi::Value clampOp(Call& c) {
  // NaN marks a missing bound (JS passes NaN for undefined).
  double lo = c.d(1), hi = c.d(2);
  c10::optional<at::Scalar> mn, mx;
  if (!std::isnan(lo)) mn = scalarOf(lo);
  if (!std::isnan(hi)) mx = scalarOf(hi);
  return c.ret(at::clamp(c.t(0), mn, mx));
}
Napi::Value linearOp(Call& c) {
  const at::Tensor& x = c.t(0);
  const at::Tensor& w = c.t(1);
  return c.ret(at::linear(x, w, c.optT(2)));
}
// Cross-entropy computed in float32 whatever the logits' dtype. For [N, V] CPU bf16 logits (the LM head under the
// default bf16 autocast) with mean or sum reduction and no label smoothing, one fused autograd function: the forward
// takes each row's logsumexp in a vectorised loop over the bf16 values (no float32 copy), the backward writes
// softmax - onehot in one pass. libtorch 1.13 runs the copy, log_softmax, its backward and nll_loss as separate passes
// over [N, V]: ~9% of a bf16 pretraining step of the shipped model (V = 16,000). float32 logits keep libtorch's
// kernels, so --fp32 runs stay bit-identical to earlier builds (the kernel agrees to ~1e-7, but tiny-model runs such
// as the demo amplify even that into different trajectories).
struct XentFunction : public torch::autograd::Function<XentFunction> {
  // Per-row logsumexp [N] and the reduced loss; throws on a target outside [0, V) other than `ignore`.
  static std::pair<at::Tensor, at::Tensor> compute(const at::Tensor& x, const at::Tensor& target, int64_t ignore, int64_t reduction) {
    const int64_t rows = x.size(0), n = x.size(1);
    const bool bf16 = x.scalar_type() == at::kBFloat16;
    at::Tensor lse = at::empty({rows}, x.options().dtype(at::kFloat));
    const char* xp = static_cast<const char*>(x.data_ptr());
    const size_t es = x.element_size();
    float* lp = lse.data_ptr<float>();
    at::parallel_for(0, rows, 8, [&](int64_t begin, int64_t end) { kern::logsumexpRows(xp + begin * n * es, bf16, 0, end - begin, n, lp + begin); });
    const int64_t* tp = target.data_ptr<int64_t>();
    double sum = 0.0;
    int64_t count = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t t = tp[r];
      if (t == ignore) continue;
      if (t < 0 || t >= n) throw std::runtime_error("Target " + std::to_string(t) + " is out of bounds.");
      const float xt = bf16 ? static_cast<float>(static_cast<const c10::BFloat16*>(x.data_ptr())[r * n + t]) : static_cast<const float*>(x.data_ptr())[r * n + t];
      sum += static_cast<double>(lp[r]) - static_cast<double>(xt);
      ++count;
    }
    const double loss = reduction == at::Reduction::Mean ? sum / static_cast<double>(count) : sum;  // mean of none: NaN, as torch
    return {lse, at::scalar_tensor(loss, x.options().dtype(at::kFloat))};
  }
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& target, int64_t ignore, int64_t reduction) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [lse, loss] = compute(x, target, ignore, reduction);
    int64_t count = 0;
    const int64_t* tp = target.data_ptr<int64_t>();
    for (int64_t r = 0; r < target.size(0); ++r) count += tp[r] != ignore;
    ctx->save_for_backward({x, target, lse});
    ctx->saved_data["ignore"] = ignore;
    ctx->saved_data["div"] = reduction == at::Reduction::Mean ? static_cast<double>(count) : 1.0;
    return loss;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& target = saved[1];
    const at::Tensor& lse = saved[2];
    const float scale = static_cast<float>(grads[0].item<double>() / ctx->saved_data["div"].toDouble());
    const int64_t ignore = ctx->saved_data["ignore"].toInt();
    at::Tensor dx = at::empty(x.sizes(), x.options());
    const int64_t n = x.size(1);
    const bool bf16 = x.scalar_type() == at::kBFloat16;
    at::parallel_for(0, x.size(0), 8, [&](int64_t begin, int64_t end) {
      kern::xentGradRows(x.data_ptr(), bf16, lse.data_ptr<float>(), target.data_ptr<int64_t>(), ignore, scale, begin, end, n, dx.data_ptr());
    });
    return {dx, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

Napi::Value crossEntropyOp(Call& c) {
  // reduction: 0 none, 1 mean, 2 sum (at::Reduction's values)
  const at::Tensor& x = c.t(0);
  const at::Tensor& target = c.t(1);
  const int64_t ignore = c.i64(2), reduction = c.i64(4);
  const double smoothing = c.d(3);
  if (x.is_cpu() && target.is_cpu() && x.dim() == 2 && x.size(0) > 0 && x.size(1) > 0 && x.is_contiguous() &&
      x.scalar_type() == at::kBFloat16 && target.dim() == 1 &&
      target.size(0) == x.size(0) && target.scalar_type() == at::kLong && target.is_contiguous() && smoothing == 0.0 &&
      (reduction == at::Reduction::Mean || reduction == at::Reduction::Sum)) {
    if (gradNeeded({&x})) return c.ret(XentFunction::apply(x, target, ignore, reduction));
    return c.ret(XentFunction::compute(x, target, ignore, reduction).second);
  }
  const at::Tensor logits = x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kHalf ? x.to(at::kFloat) : x;
  return c.ret(at::cross_entropy_loss(logits, target, c10::nullopt, reduction, ignore, smoothing));
}
// T5's layer norm: no mean subtraction, no bias, statistics in fp32; the result is cast back to the
// weight's dtype when that is half/bf16 (as HF's T5LayerNorm does). float64 input stays float64
// (HF would downcast it; keeping it lets the gradient be checked by finite differences).
Napi::Value rmsNormOp(Call& c) {
  const at::Tensor& x = c.t(0);
  const at::Tensor& w = c.t(1);
  double eps = c.d(2);
  if (x.is_cpu() && w.is_cpu() && x.dim() >= 1 && w.dim() == 1 && x.size(-1) == w.size(0) && x.numel() > 0 &&
      x.is_contiguous() && w.is_contiguous() && w.scalar_type() == at::kFloat &&
      (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16) && !gradNeeded({&x, &w}))
    return c.ret(rmsNormFast(x, w, static_cast<float>(eps)));
  at::Tensor h = x.scalar_type() == at::kDouble ? x : x.to(at::kFloat);
  at::Tensor var = h.pow(2).mean(-1, true);
  h = h * at::rsqrt(var + eps);
  if (w.scalar_type() == at::kHalf || w.scalar_type() == at::kBFloat16) h = h.to(w.scalar_type());
  return c.ret(w * h);
}
Napi::Value backwardOp(Call& c) {
  const at::Tensor& t = c.t(0);
  auto g = c.optT(1);
  t.backward(g ? *g : at::Tensor());
  return c.undef();
}

const OpDef kDefs[] = {
    // conversion / copies
    {"to", toOp},
    OP("toDevice", c.ret(c.t(0).to(device(c.i32(1))))),
    OP("clone", c.ret(c.t(0).clone())),
    OP("contiguous", c.ret(c.t(0).contiguous())),
    OP("detach", c.ret(c.t(0).detach())),
    // shape
    OP("reshape", c.ret(c.t(0).reshape(c.ints(1)))),
    OP("view", c.ret(c.t(0).view(c.ints(1)))),
    OP("permute", c.ret(c.t(0).permute(c.ints(1)))),
    OP("transpose", c.ret(c.t(0).transpose(c.i64(1), c.i64(2)))),
    OP("narrow", c.ret(c.t(0).narrow(c.i64(1), c.i64(2), c.i64(3)))),
    OP("squeeze", c.ret(c.t(0).squeeze(c.i64(1)))),
    OP("unsqueeze", c.ret(c.t(0).unsqueeze(c.i64(1)))),
    OP("expand", c.ret(c.t(0).expand(c.ints(1)))),
    OP("flatten", c.ret(c.t(0).flatten(c.i64(1), c.i64(2)))),
    OP("cat", c.ret(at::cat(c.tensors(0), c.i64(1)))),
    OP("stack", c.ret(at::stack(c.tensors(0), c.i64(1)))),
    // elementwise
    OP("add", c.ret(at::add(c.t(0), c.t(1)))),
    OP("addS", c.ret(at::add(c.t(0), scalarOf(c.d(1))))),
    OP("sub", c.ret(at::sub(c.t(0), c.t(1)))),
    OP("subS", c.ret(at::sub(c.t(0), scalarOf(c.d(1))))),
    OP("mul", c.ret(at::mul(c.t(0), c.t(1)))),
    OP("mulS", c.ret(at::mul(c.t(0), scalarOf(c.d(1))))),
    OP("div", c.ret(at::div(c.t(0), c.t(1)))),
    OP("divS", c.ret(at::div(c.t(0), scalarOf(c.d(1))))),
    OP("neg", c.ret(at::neg(c.t(0)))),
    OP("pow", c.ret(at::pow(c.t(0), scalarOf(c.d(1))))),
    OP("sqrt", c.ret(at::sqrt(c.t(0)))),
    OP("rsqrt", c.ret(at::rsqrt(c.t(0)))),
    OP("exp", c.ret(at::exp(c.t(0)))),
    OP("log", c.ret(at::log(c.t(0)))),
    OP("abs", c.ret(at::abs(c.t(0)))),
    OP("tanh", c.ret(at::tanh(c.t(0)))),
    OP("sigmoid", c.ret(at::sigmoid(c.t(0)))),
    OP("relu", c.ret(at::relu(c.t(0)))),
    {"gelu", geluOp},
    OP("minimum", c.ret(at::minimum(c.t(0), c.t(1)))),
    OP("minimumS", c.ret(at::clamp_max(c.t(0), scalarOf(c.d(1))))),
    OP("maximum", c.ret(at::maximum(c.t(0), c.t(1)))),
    OP("maximumS", c.ret(at::clamp_min(c.t(0), scalarOf(c.d(1))))),
    {"clamp", clampOp},
    OP("eq", c.ret(at::eq(c.t(0), c.t(1)))),
    OP("eqS", c.ret(at::eq(c.t(0), scalarOf(c.d(1))))),
    OP("ne", c.ret(at::ne(c.t(0), c.t(1)))),
    OP("neS", c.ret(at::ne(c.t(0), scalarOf(c.d(1))))),
    OP("lt", c.ret(at::lt(c.t(0), c.t(1)))),
    OP("ltS", c.ret(at::lt(c.t(0), scalarOf(c.d(1))))),
    OP("le", c.ret(at::le(c.t(0), c.t(1)))),
    OP("leS", c.ret(at::le(c.t(0), scalarOf(c.d(1))))),
    OP("gt", c.ret(at::gt(c.t(0), c.t(1)))),
    OP("gtS", c.ret(at::gt(c.t(0), scalarOf(c.d(1))))),
    OP("ge", c.ret(at::ge(c.t(0), c.t(1)))),
    OP("geS", c.ret(at::ge(c.t(0), scalarOf(c.d(1))))),
    OP("logicalAnd", c.ret(at::logical_and(c.t(0), c.t(1)))),
    OP("logicalOr", c.ret(at::logical_or(c.t(0), c.t(1)))),
    OP("logicalNot", c.ret(at::logical_not(c.t(0)))),
    OP("maskedFill", c.ret(at::masked_fill(c.t(0), c.t(1), scalarOf(c.d(2))))),
    OP("where", c.ret(at::where(c.t(0), c.t(1), c.t(2)))),
    OP("whereTS", c.ret(at::where(c.t(0), c.t(1), scalarOf(c.d(2))))),
    OP("whereST", c.ret(at::where(c.t(0), scalarOf(c.d(1)), c.t(2)))),
    OP("whereSS", c.ret(at::where(c.t(0), scalarOf(c.d(1)), scalarOf(c.d(2))))),
    OP("triu", c.ret(at::triu(c.t(0), c.i64(1)))),
    OP("tril", c.ret(at::tril(c.t(0), c.i64(1)))),
    // linear algebra
    OP("matmul", c.ret(at::matmul(c.t(0), c.t(1)))),
    OP("bmm", c.ret(at::bmm(c.t(0), c.t(1)))),
    {"linear", linearOp},
    // reductions / normalisation
    {"sum", sumOp},
    {"mean", meanOp},
    {"max", maxOp},
    {"min", minOp},
    {"argmax", argmaxOp},
    {"topk", topkOp},
    {"logsumexp", logsumexpOp},
    OP("softmax", c.ret(at::softmax(c.t(0), c.i64(1)))),
    {"logSoftmax", logSoftmaxOp},
    OP("cumsum", c.ret(at::cumsum(c.t(0), c.i64(1)))),
    {"sort", sortOp},
    {"rmsNorm", rmsNormOp},
    {"attention", attentionOp},
    // indexing
    OP("gather", c.ret(at::gather(c.t(0), c.i64(1), c.t(2)))),
    OP("indexSelect", c.ret(at::index_select(c.t(0), c.i64(1), c.t(2)))),
    OP("scatter", c.ret(at::scatter(c.t(0), c.i64(1), c.t(2), c.t(3)))),
    OP("scatterS", c.ret(at::scatter(c.t(0), c.i64(1), c.t(2), scalarOf(c.d(3))))),
    OP("embedding", c.ret(at::embedding(c.t(0), c.t(1)))),
    // nn
    OP("dropout", c.ret(at::dropout(c.t(0), c.d(1), c.b(2)))),
    {"uniformDropout", uniformDropoutOp},
    {"crossEntropy", crossEntropyOp},
    // autograd
    {"backward", backwardOp},
    // in place, outside autograd (init, loading, optimizers)
    VOID_OP("copy_", at::NoGradGuard g; c.t(0).copy_(c.t(1))),
    VOID_OP("fill_", at::NoGradGuard g; c.t(0).fill_(scalarOf(c.d(1)))),
    VOID_OP("indexCopy_", at::NoGradGuard g; c.t(0).index_copy_(c.i64(1), c.t(2), c.t(3))),
    VOID_OP("normal_", at::NoGradGuard g; c.t(0).normal_(c.d(1), c.d(2))),
    VOID_OP("uniform_", at::NoGradGuard g; c.t(0).uniform_(c.d(1), c.d(2))),
};

}  // namespace

void initOps(Napi::Env env, Napi::Object exports) { define(env, exports, kDefs, sizeof(kDefs) / sizeof(kDefs[0])); }

}  // namespace cy
