// Tensor ops: one exported function per op, taking tensor ids and plain numbers and returning an id,
// so a call costs one napi round trip and no per-call JS object in C++ beyond the result number.
// Scalar variants ("addS") exist so JS never has to materialise a tensor for a number.
#include "common.h"

#include <ATen/core/Reduction.h>

namespace cy {
namespace {

#define OP(NAME, EXPR) \
  { NAME, [](Call& c) -> Napi::Value { return EXPR; } }
#define VOID_OP(NAME, STMT) \
  { NAME, [](Call& c) -> Napi::Value { STMT; return c.undef(); } }

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
Napi::Value logsumexpOp(Call& c) {
  auto d = c.ints(1);
  return c.ret(at::logsumexp(c.t(0), at::IntArrayRef(d), c.b(2)));
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
Napi::Value crossEntropyOp(Call& c) {
  // reduction: 0 none, 1 mean, 2 sum (at::Reduction's values)
  return c.ret(at::cross_entropy_loss(c.t(0), c.t(1), c10::nullopt, c.i64(4), c.i64(2), c.d(3)));
}
// T5's layer norm: no mean subtraction, no bias, statistics in fp32; the result is cast back to the
// weight's dtype when that is half/bf16 (as HF's T5LayerNorm does). float64 input stays float64
// (HF would downcast it; keeping it lets the gradient be checked by finite differences).
Napi::Value rmsNormOp(Call& c) {
  const at::Tensor& x = c.t(0);
  const at::Tensor& w = c.t(1);
  double eps = c.d(2);
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
    OP("to", c.ret(c.t(0).to(scalarType(c.i32(1))))),
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
    OP("gelu", c.ret(at::gelu(c.t(0), c.b(1) ? "tanh" : "none"))),
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
    OP("argmax", c.ret(at::argmax(c.t(0), c.i64(1), c.b(2)))),
    {"topk", topkOp},
    {"logsumexp", logsumexpOp},
    OP("softmax", c.ret(at::softmax(c.t(0), c.i64(1)))),
    OP("logSoftmax", c.ret(at::log_softmax(c.t(0), c.i64(1)))),
    OP("cumsum", c.ret(at::cumsum(c.t(0), c.i64(1)))),
    {"sort", sortOp},
    {"rmsNorm", rmsNormOp},
    // indexing
    OP("gather", c.ret(at::gather(c.t(0), c.i64(1), c.t(2)))),
    OP("indexSelect", c.ret(at::index_select(c.t(0), c.i64(1), c.t(2)))),
    OP("scatter", c.ret(at::scatter(c.t(0), c.i64(1), c.t(2), c.t(3)))),
    OP("scatterS", c.ret(at::scatter(c.t(0), c.i64(1), c.t(2), scalarOf(c.d(3))))),
    OP("embedding", c.ret(at::embedding(c.t(0), c.t(1)))),
    // nn
    OP("dropout", c.ret(at::dropout(c.t(0), c.d(1), c.b(2)))),
    {"crossEntropy", crossEntropyOp},
    // autograd
    {"backward", backwardOp},
    // in place, outside autograd (init, loading, optimizers)
    VOID_OP("copy_", at::NoGradGuard g; c.t(0).copy_(c.t(1))),
    VOID_OP("fill_", at::NoGradGuard g; c.t(0).fill_(scalarOf(c.d(1)))),
    VOID_OP("normal_", at::NoGradGuard g; c.t(0).normal_(c.d(1), c.d(2))),
    VOID_OP("uniform_", at::NoGradGuard g; c.t(0).uniform_(c.d(1), c.d(2))),
};

}  // namespace

void initOps(Napi::Env env, Napi::Object exports) { define(env, exports, kDefs, sizeof(kDefs) / sizeof(kDefs[0])); }

}  // namespace cy
