// Shared pieces of the addon: the tensor table (tensors are integer handles, not napi wrapper objects,
// so a training loop allocates no per-tensor native JS objects), argument helpers, and the error wrapper
// that turns every C++/libtorch exception into a JS Error naming the op and its inputs.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace cy {

// ---- tensor table -------------------------------------------------------------------------------
// Id 0 is never used, so 0 can mean "no tensor" (e.g. no grad, no bias).
int32_t put(at::Tensor t);
const at::Tensor& get(int32_t id);  // throws std::runtime_error on an unknown/released id
void release(int32_t id);
int64_t liveCount();

// ---- dtype/device codes shared with src/tensor/dtype.ts ----------------------------------------
// 0 float32, 1 float64, 2 bfloat16, 3 float16, 4 int64, 5 int32, 6 bool, 7 uint8
at::ScalarType scalarType(int code);
int dtypeCode(at::ScalarType t);
const char* dtypeName(at::ScalarType t);
at::Device device(int code);  // 0 cpu, 1 cuda
int deviceCode(const at::Device& d);

// A JS number as a Scalar: integral values become integer Scalars so that int_tensor + 2 stays
// integral, as a Python int would.
at::Scalar scalarOf(double v);
// at::rand(sizes, opts): float32 CPU draws from the default generator by a faster loop, the same numbers (ops.cc).
at::Tensor randUniform(at::IntArrayRef sizes, const at::TensorOptions& opts);

// ---- call context ---------------------------------------------------------------------------
class Call {
 public:
  Call(const Napi::CallbackInfo& info, const char* op) : info_(info), op_(op) {}

  const at::Tensor& t(size_t i) {
    int32_t id = info_[i].As<Napi::Number>().Int32Value();
    if (i < kMaxArgs) args_[i] = id;  // by position: C++ argument evaluation order is unspecified
    return get(id);
  }
  // Optional tensor: undefined/null/0 means none.
  c10::optional<at::Tensor> optT(size_t i) {
    if (!has(i)) return c10::nullopt;
    int32_t id = info_[i].As<Napi::Number>().Int32Value();
    if (id == 0) return c10::nullopt;
    return t(i);
  }
  std::vector<at::Tensor> tensors(size_t i);  // JS array of ids, or an Int32Array
  std::vector<int32_t> ids(size_t i);          // same, ids only
  double d(size_t i) const { return info_[i].As<Napi::Number>().DoubleValue(); }
  int64_t i64(size_t i) const { return info_[i].As<Napi::Number>().Int64Value(); }
  int32_t i32(size_t i) const { return info_[i].As<Napi::Number>().Int32Value(); }
  bool b(size_t i) const { return has(i) && info_[i].ToBoolean().Value(); }
  bool has(size_t i) const { return i < info_.Length() && !info_[i].IsUndefined() && !info_[i].IsNull(); }
  // number or array of numbers
  c10::SmallVector<int64_t, 8> ints(size_t i) const;
  at::TensorOptions opts(size_t dtypeArg, size_t deviceArg) const;

  Napi::Env env() const { return info_.Env(); }
  const Napi::CallbackInfo& info() const { return info_; }
  const char* op() const { return op_; }

  Napi::Value ret(at::Tensor t) { return Napi::Number::New(info_.Env(), put(std::move(t))); }
  Napi::Value ret2(at::Tensor a, at::Tensor b);
  Napi::Value num(double v) { return Napi::Number::New(info_.Env(), v); }
  Napi::Value undef() { return info_.Env().Undefined(); }

  // "op(float32[2,3], int64[4]): message"
  std::string describe(const std::string& what) const;

 private:
  static constexpr size_t kMaxArgs = 8;
  const Napi::CallbackInfo& info_;
  const char* op_;
  int32_t args_[kMaxArgs] = {0, 0, 0, 0, 0, 0, 0, 0};  // tensor ids by argument position
  std::vector<int32_t> list_;                          // ids of a tensor-list argument (cat/stack)
};

using OpFn = Napi::Value (*)(Call&);
struct OpDef {
  const char* name;
  OpFn fn;
};

// Registers ops on `exports`; every call goes through one trampoline that converts exceptions.
void define(Napi::Env env, Napi::Object exports, const OpDef* defs, size_t n);

void initTable(Napi::Env env, Napi::Object exports);
void initOps(Napi::Env env, Napi::Object exports);
void initOptim(Napi::Env env, Napi::Object exports);
void initDist(Napi::Env env, Napi::Object exports);
void initCrash(Napi::Env env, Napi::Object exports);
void initProfiler(Napi::Env env, Napi::Object exports);

// profiler.cc: while set, the trampoline records a "cy::<op>" range around each addon call.
extern bool g_profiling;

// ---- fatal-signal report (crash.cc) -----------------------------------------------------------
// The trampoline records the op it enters (named in the report of a crash); with CYCLENER_TEST_TRAP set, the
// chosen call crashes on purpose.
extern std::atomic<const char*> g_lastOp;
extern bool g_trapArmed;
void trapHook(const char* op);
inline void enterOp(const char* name) {
  g_lastOp.store(name, std::memory_order_relaxed);
  if (__builtin_expect(g_trapArmed, 0)) trapHook(name);
}

}  // namespace cy
