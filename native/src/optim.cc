// Optimizers and gradient clipping, each over all parameters in one native call.
// AdamW follows torch.optim.AdamW (1.13, single-tensor path, amsgrad=False); Adafactor follows
// transformers.optimization.Adafactor. AdamW has a fused single-pass loop for contiguous CPU
// float32/float64 tensors (the op-by-op version makes ~8 passes over memory); everything else,
// including CUDA tensors, takes the op-by-op path with identical semantics.
#include "common.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <functional>
#include <vector>

namespace cy {
namespace {

double* f64Array(Call& c, size_t i) { return c.info()[i].As<Napi::Float64Array>().Data(); }

template <typename T>
void adamwKernel(T* p, const T* g, T* m, T* v, int64_t n, double lr, double b1, double b2, double eps, double wd,
                 double stepSize, double bc2sqrt) {
  // Same operation order as the PyTorch ops, each rounded to T like the tensor ops are.
  const T decay = static_cast<T>(1.0 - lr * wd);
  const T tb1 = static_cast<T>(b1), ta1 = static_cast<T>(1.0 - b1);
  const T tb2 = static_cast<T>(b2), ta2 = static_cast<T>(1.0 - b2);
  const T teps = static_cast<T>(eps), tbc2 = static_cast<T>(bc2sqrt), tstep = static_cast<T>(-stepSize);
  at::parallel_for(0, n, 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T gi = g[i];
      const T pi = p[i] * decay;                  // param.mul_(1 - lr * wd)
      const T mi = m[i] * tb1 + ta1 * gi;         // exp_avg.mul_(b1).add_(grad, alpha=1-b1)
      const T vi = v[i] * tb2 + ta2 * gi * gi;    // exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1-b2)
      const T denom = std::sqrt(vi) / tbc2 + teps;  // (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
      p[i] = pi + tstep * mi / denom;              // param.addcdiv_(exp_avg, denom, value=-step_size)
      m[i] = mi;
      v[i] = vi;
    }
  });
}

bool fusable(const at::Tensor& p, const at::Tensor& g, const at::Tensor& m, const at::Tensor& v) {
  auto st = p.scalar_type();
  if (st != at::kFloat && st != at::kDouble) return false;
  for (const at::Tensor* t : {&p, &g, &m, &v})
    if (!t->is_cpu() || t->scalar_type() != st || !t->is_contiguous() || t->numel() != p.numel()) return false;
  return true;
}

// adamw(paramIds, expAvgIds, expAvgSqIds, steps: Float64Array, lr, beta1, beta2, eps, weightDecay)
// Params without a grad are skipped and keep their step count (as in PyTorch).
Napi::Value adamw(Call& c) {
  auto P = c.ids(0), M = c.ids(1), V = c.ids(2);
  double* steps = f64Array(c, 3);
  double lr = c.d(4), b1 = c.d(5), b2 = c.d(6), eps = c.d(7), wd = c.d(8);
  at::NoGradGuard ng;
  for (size_t k = 0; k < P.size(); ++k) {
    const at::Tensor& p = get(P[k]);
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    at::Tensor m = get(M[k]), v = get(V[k]);
    double step = steps[k] += 1;
    double bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
    double stepSize = lr / bc1, bc2sqrt = std::sqrt(bc2);
    if (fusable(p, g, m, v)) {
      AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "adamw", [&] {
        adamwKernel<scalar_t>(p.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), m.data_ptr<scalar_t>(),
                              v.data_ptr<scalar_t>(), p.numel(), lr, b1, b2, eps, wd, stepSize, bc2sqrt);
      });
    } else {
      at::Tensor pm = p;  // non-const handle for in-place ops
      pm.mul_(1 - lr * wd);
      m.mul_(b1).add_(g, 1 - b1);
      v.mul_(b2).addcmul_(g, g, 1 - b2);
      at::Tensor denom = (v.sqrt() / bc2sqrt).add_(eps);
      pm.addcdiv_(m, denom, -stepSize);
    }
  }
  return c.undef();
}

at::Tensor rms(const at::Tensor& t) { return t.norm(2) / std::sqrt(static_cast<double>(t.numel())); }

struct AfArgs {
  double lr, eps1, eps2, clip, decay, beta1, wd;
  bool scaleParameter, relativeStep, warmupInit;
};

// HF _get_lr. With parameter scaling HF multiplies a 0-d tensor of the param's dtype by a Python float,
// so the product is rounded to T; this reproduces that.
template <typename T>
double adafactorLr(const AfArgs& a, double step, double paramRms) {
  double rel = a.lr;
  if (a.relativeStep) rel = std::min(a.warmupInit ? 1e-6 * step : 1e-2, 1.0 / std::sqrt(step));
  if (!a.scaleParameter) return rel;
  T rms = static_cast<T>(paramRms);
  return static_cast<double>(rms) > a.eps2 ? static_cast<double>(rms * static_cast<T>(rel)) : a.eps2 * rel;
}

// One parameter, contiguous CPU float/double, in three passes over memory instead of ~15 tensor ops:
// (1) second-moment statistics (row/col sums of grad^2 + eps1, or the full exp_avg_sq) and sum(p^2);
// (2) sum of squares of the preconditioned update, for the clipping denominator;
// (3) the update itself (recomputed, not stored), first moment, weight decay, parameter write.
// Sums are accumulated in double (HF's float reductions differ in the last bits).
// Factored params are viewed as [rows = prod(shape[:-1]), C], rows grouped in B blocks of R.
template <typename T>
void adafactorKernel(T* p, const T* g, int64_t n, int64_t C, int64_t R, bool factored, T* row, T* col, T* v, T* m,
                     const AfArgs& a, double step) {
  const double beta2t = 1.0 - std::pow(step, a.decay);
  const T tb = static_cast<T>(beta2t), ta = static_cast<T>(1.0 - beta2t), teps1 = static_cast<T>(a.eps1);
  const int64_t rows = factored ? n / C : 1;
  const int64_t B = factored ? rows / R : 1;
  std::vector<T> rfac, cfac;
  double psq = 0;
  if (factored) {
    // pass 1: per-chunk column accumulators so threads never share a write
    const int64_t nth = std::max<int64_t>(1, at::get_num_threads());
    const int64_t chunk = (rows + nth - 1) / nth;
    const int64_t nchunks = (rows + chunk - 1) / chunk;
    std::vector<double> colAcc(static_cast<size_t>(nchunks * B * C), 0.0), rowSum(rows), psqAcc(nchunks, 0.0);
    at::parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t ch = c0; ch < c1; ++ch) {
        double ps = 0;
        for (int64_t r = ch * chunk; r < std::min(rows, (ch + 1) * chunk); ++r) {
          const T* gr = g + r * C;
          const T* pr = p + r * C;
          double* cb = colAcc.data() + (ch * B + r / R) * C;
          double rs = 0;
#pragma omp simd reduction(+ : rs, ps)
          for (int64_t j = 0; j < C; ++j) {
            const T u = gr[j] * gr[j] + teps1;
            rs += u;
            cb[j] += u;
            ps += static_cast<double>(pr[j]) * pr[j];
          }
          rowSum[r] = rs;
        }
        psqAcc[ch] = ps;
      }
    });
    for (double x : psqAcc) psq += x;
    // exp_avg_sq_row.mul_(beta2t).add_(update.mean(-1), alpha=1-beta2t), same for col with mean(-2)
    rfac.resize(rows);
    cfac.resize(B * C);
    for (int64_t r = 0; r < rows; ++r) row[r] = row[r] * tb + ta * static_cast<T>(rowSum[r] / C);
    for (int64_t k = 0; k < B * C; ++k) {
      double s = 0;
      for (int64_t ch = 0; ch < nchunks; ++ch) s += colAcc[ch * B * C + k];
      col[k] = col[k] * tb + ta * static_cast<T>(s / R);
      cfac[k] = T(1) / std::sqrt(col[k]);  // col.unsqueeze(-2).rsqrt()
    }
    for (int64_t b = 0; b < B; ++b) {  // (row / row.mean(-1, keepdim=True)).rsqrt_()
      double s = 0;
      for (int64_t i = 0; i < R; ++i) s += row[b * R + i];
      const T mean = static_cast<T>(s / R);
      for (int64_t i = 0; i < R; ++i) rfac[b * R + i] = T(1) / std::sqrt(row[b * R + i] / mean);
    }
  } else {
    psq = at::parallel_reduce(0, n, 16384, 0.0, [&](int64_t i0, int64_t i1, double acc) {
#pragma omp simd reduction(+ : acc)
      for (int64_t i = i0; i < i1; ++i) {
        v[i] = v[i] * tb + ta * (g[i] * g[i] + teps1);
        acc += static_cast<double>(p[i]) * p[i];
      }
      return acc;
    }, std::plus<double>());
  }
  // the unclipped update at flat index i (row r): (r_factor * c_factor) * grad, or rsqrt(v) * grad
  auto upd = [&](int64_t r, int64_t i) -> T {
    if (factored) return rfac[r] * cfac[(r / R) * C + (i - r * C)] * g[i];
    return T(1) / std::sqrt(v[i]) * g[i];
  };
  const int64_t cols = factored ? C : n;
  const int64_t grain = std::max<int64_t>(1, 16384 / cols);
  // pass 2
  double usq = at::parallel_reduce(0, rows, grain, 0.0, [&](int64_t r0, int64_t r1, double acc) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t base = factored ? r * C : 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t j = 0; j < cols; ++j) {
        const T u = upd(r, base + j);
        acc += static_cast<double>(u) * u;
      }
    }
    return acc;
  }, std::plus<double>());
  const double lr = adafactorLr<T>(a, step, std::sqrt(psq / n));
  // update.div_((rms(update) / clip).clamp_(min=1.0)).mul_(lr)
  const T denom = static_cast<T>(std::max(std::sqrt(usq / n) / a.clip, 1.0));
  const T tlr = static_cast<T>(lr);
  const bool useM = !std::isnan(a.beta1);
  const T tb1 = static_cast<T>(useM ? a.beta1 : 0), ta1 = static_cast<T>(useM ? 1 - a.beta1 : 0);
  const T twd = static_cast<T>(-a.wd * lr);
  const bool decay = a.wd != 0;
  // pass 3
  at::parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t base = factored ? r * C : 0;
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) {
        const int64_t i = base + j;
        T u = upd(r, i) / denom * tlr;
        if (useM) {
          m[i] = m[i] * tb1 + ta1 * u;  // exp_avg.mul_(beta1).add_(update, alpha=1-beta1)
          u = m[i];
        }
        T pi = p[i];
        if (decay) pi = pi + twd * pi;  // p.add_(p, alpha=-wd*lr)
        p[i] = pi + (-u);               // p.add_(-update)
      }
    }
  });
}

bool adafactorFusable(const at::Tensor& p, const at::Tensor& g, std::initializer_list<const at::Tensor*> states) {
  auto st = p.scalar_type();
  if ((st != at::kFloat && st != at::kDouble) || p.numel() == 0) return false;
  if (!p.is_cpu() || !g.is_cpu() || g.scalar_type() != st || !p.is_contiguous() || !g.is_contiguous()) return false;
  for (const at::Tensor* t : states)
    if (t->defined() && (!t->is_cpu() || t->scalar_type() != st || !t->is_contiguous())) return false;
  return true;
}

// adafactor(paramIds, expAvgIds, rowIds, colIds, expAvgSqIds, steps: Float64Array,
//           lr (NaN = none), eps1, eps2, clipThreshold, decayRate, beta1 (NaN = none), weightDecay,
//           scaleParameter, relativeStep, warmupInit)
// State ids are 0 where a state does not exist (no first moment; factored vs unfactored).
Napi::Value adafactor(Call& c) {
  auto P = c.ids(0), A = c.ids(1), R = c.ids(2), C = c.ids(3), V = c.ids(4);
  double* steps = f64Array(c, 5);
  double lrArg = c.d(6), eps1 = c.d(7), eps2 = c.d(8), clip = c.d(9), decay = c.d(10), beta1 = c.d(11);
  double wd = c.d(12);
  bool scaleParameter = c.b(13), relativeStep = c.b(14), warmupInit = c.b(15);
  at::NoGradGuard ng;
  const AfArgs args{lrArg, eps1, eps2, clip, decay, beta1, wd, scaleParameter, relativeStep, warmupInit};
  for (size_t k = 0; k < P.size(); ++k) {
    at::Tensor p = get(P[k]);
    at::Tensor grad = p.grad();
    if (!grad.defined()) continue;
    {
      const bool fac = grad.dim() >= 2;
      at::Tensor sA = A[k] ? get(A[k]) : at::Tensor(), sR = fac ? get(R[k]) : at::Tensor(),
                 sC = fac ? get(C[k]) : at::Tensor(), sV = fac ? at::Tensor() : get(V[k]);
      if (adafactorFusable(p, grad, {&sA, &sR, &sC, &sV})) {
        double step = steps[k] += 1;
        const int64_t cdim = fac ? p.size(-1) : 1, rdim = fac ? p.size(-2) : 1;
        AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "adafactor", [&] {
          auto ptr = [](at::Tensor& t) { return t.defined() ? t.data_ptr<scalar_t>() : nullptr; };
          adafactorKernel<scalar_t>(p.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(), p.numel(), cdim, rdim, fac,
                                    ptr(sR), ptr(sC), ptr(sV), ptr(sA), args, step);
        });
        continue;
      }
    }
    const bool reduced = p.scalar_type() == at::kHalf || p.scalar_type() == at::kBFloat16;
    if (grad.scalar_type() == at::kHalf || grad.scalar_type() == at::kBFloat16) grad = grad.to(at::kFloat);
    const bool factored = grad.dim() >= 2;
    at::Tensor pf = reduced ? p.to(at::kFloat) : p;
    double step = steps[k] += 1;
    at::Tensor paramRms = rms(pf);
    // _get_lr: relative step size, optionally scaled by the parameter RMS (a float32 tensor in HF,
    // so the product is rounded to float32 there too).
    double rel = lrArg;
    if (relativeStep) {
      double minStep = warmupInit ? 1e-6 * step : 1e-2;
      rel = std::min(minStep, 1.0 / std::sqrt(step));
    }
    double lr = rel;
    if (scaleParameter) {
      double r = paramRms.item<double>();
      lr = r > eps2 ? (paramRms * rel).item<double>() : eps2 * rel;
    }
    double beta2t = 1.0 - std::pow(step, decay);
    at::Tensor update = grad.pow(2) + eps1;
    if (factored) {
      at::Tensor row = get(R[k]), col = get(C[k]);
      row.mul_(beta2t).add_(update.mean(-1), 1.0 - beta2t);
      col.mul_(beta2t).add_(update.mean(-2), 1.0 - beta2t);
      at::Tensor rFactor = (row / row.mean(-1, true)).rsqrt_().unsqueeze(-1);
      at::Tensor cFactor = col.unsqueeze(-2).rsqrt();
      update = at::mul(rFactor, cFactor);
      update.mul_(grad);
    } else {
      at::Tensor v = get(V[k]);
      v.mul_(beta2t).add_(update, 1.0 - beta2t);
      update = v.rsqrt().mul_(grad);
    }
    update.div_((rms(update) / clip).clamp_(1.0));
    update.mul_(lr);
    if (!std::isnan(beta1)) {
      at::Tensor a = get(A[k]);
      a.mul_(beta1).add_(update, 1 - beta1);
      update = a;
    }
    if (wd != 0) pf.add_(pf, -wd * lr);
    pf.add_(-update);
    if (reduced) p.copy_(pf);
  }
  return c.undef();
}

// clipGradNorm(paramIds, maxNorm) -> total norm before clipping (torch.nn.utils.clip_grad_norm_, 1.13).
Napi::Value clipGradNorm(Call& c) {
  auto P = c.ids(0);
  double maxNorm = c.d(1);
  at::NoGradGuard ng;
  std::vector<at::Tensor> grads, norms;
  for (int32_t id : P) {
    const at::Tensor& g = get(id).grad();
    if (g.defined()) grads.push_back(g);
  }
  if (grads.empty()) return c.num(0);
  at::Device dev = grads[0].device();
  for (auto& g : grads) norms.push_back(g.norm(2).to(dev));
  at::Tensor total = at::stack(norms).norm(2);
  at::Tensor coef = (maxNorm / (total + 1e-6)).clamp_max(1.0);
  for (auto& g : grads) {
    at::Tensor gm = g;
    gm.mul_(coef.to(g.device()));
  }
  return c.num(total.item<double>());
}

const OpDef kDefs[] = {
    {"adamw", adamw},
    {"adafactor", adafactor},
    {"clipGradNorm", clipGradNorm},
};

}  // namespace

void initOptim(Napi::Env env, Napi::Object exports) { define(env, exports, kDefs, sizeof(kDefs) / sizeof(kDefs[0])); }

}  // namespace cy
