// Tensor table, call helpers, and the exception trampoline.
#include "common.h"

#include <ATen/record_function.h>

#include <ATen/detail/CUDAHooksInterface.h>

#include <sstream>
#include <stdexcept>

namespace cy {

namespace {
std::vector<at::Tensor> g_slots(1);  // slot 0 reserved
std::vector<int32_t> g_free;
int64_t g_live = 0;
}  // namespace

int32_t put(at::Tensor t) {
  int32_t id;
  if (!g_free.empty()) {
    id = g_free.back();
    g_free.pop_back();
    g_slots[id] = std::move(t);
  } else {
    id = static_cast<int32_t>(g_slots.size());
    g_slots.push_back(std::move(t));
  }
  ++g_live;
  return id;
}

const at::Tensor& get(int32_t id) {
  if (id <= 0 || static_cast<size_t>(id) >= g_slots.size() || !g_slots[id].defined())
    throw std::runtime_error("unknown or released tensor id " + std::to_string(id));
  return g_slots[id];
}

void release(int32_t id) {
  if (id <= 0 || static_cast<size_t>(id) >= g_slots.size() || !g_slots[id].defined()) return;
  g_slots[id] = at::Tensor();
  g_free.push_back(id);
  --g_live;
}

int64_t liveCount() { return g_live; }

static const at::ScalarType kTypes[] = {at::kFloat, at::kDouble, at::kBFloat16, at::kHalf,
                                        at::kLong,  at::kInt,    at::kBool,     at::kByte};
static const char* kNames[] = {"float32", "float64", "bfloat16", "float16", "int64", "int32", "bool", "uint8"};

at::ScalarType scalarType(int code) {
  if (code < 0 || code > 7) throw std::runtime_error("bad dtype code " + std::to_string(code));
  return kTypes[code];
}

int dtypeCode(at::ScalarType t) {
  for (int i = 0; i < 8; ++i)
    if (kTypes[i] == t) return i;
  return -1;
}

const char* dtypeName(at::ScalarType t) {
  int c = dtypeCode(t);
  return c < 0 ? c10::toString(t) : kNames[c];
}

at::Device device(int code) {
  if (code != 1) return at::Device(at::kCPU);
  if (!at::detail::getCUDAHooks().hasCUDA())
    throw std::runtime_error("device 'cuda' requested but this libtorch build has no CUDA (or no GPU is visible)");
  return at::Device(at::kCUDA);
}
int deviceCode(const at::Device& d) { return d.is_cuda() ? 1 : 0; }

at::Scalar scalarOf(double v) {
  if (std::isfinite(v) && v == static_cast<double>(static_cast<int64_t>(v)) && std::abs(v) < 9.0e15)
    return at::Scalar(static_cast<int64_t>(v));
  return at::Scalar(v);
}

std::vector<int32_t> Call::ids(size_t i) {
  std::vector<int32_t> out;
  Napi::Value v = info_[i];
  if (v.IsTypedArray()) {
    Napi::Int32Array a = v.As<Napi::Int32Array>();
    out.assign(a.Data(), a.Data() + a.ElementLength());
  } else {
    Napi::Array a = v.As<Napi::Array>();
    uint32_t n = a.Length();
    out.reserve(n);
    for (uint32_t k = 0; k < n; ++k) out.push_back(a.Get(k).As<Napi::Number>().Int32Value());
  }
  return out;
}

std::vector<at::Tensor> Call::tensors(size_t i) {
  std::vector<int32_t> idv = ids(i);
  std::vector<at::Tensor> out;
  out.reserve(idv.size());
  list_ = idv;
  for (size_t k = 0; k < idv.size(); ++k) out.push_back(get(idv[k]));
  return out;
}

c10::SmallVector<int64_t, 8> Call::ints(size_t i) const {
  c10::SmallVector<int64_t, 8> out;
  Napi::Value v = info_[i];
  if (v.IsNumber()) {
    out.push_back(v.As<Napi::Number>().Int64Value());
    return out;
  }
  if (!v.IsArray()) throw std::runtime_error("expected a number or an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  uint32_t n = a.Length();
  for (uint32_t k = 0; k < n; ++k) {
    Napi::Value e = a.Get(k);
    if (!e.IsNumber()) throw std::runtime_error("expected an array of numbers");
    out.push_back(e.As<Napi::Number>().Int64Value());
  }
  return out;
}

at::TensorOptions Call::opts(size_t dtypeArg, size_t deviceArg) const {
  return at::TensorOptions().dtype(scalarType(i32(dtypeArg))).device(device(i32(deviceArg)));
}

Napi::Value Call::ret2(at::Tensor a, at::Tensor b) {
  Napi::Env e = info_.Env();
  Napi::Array out = Napi::Array::New(e, 2);
  out.Set(0u, Napi::Number::New(e, put(std::move(a))));
  out.Set(1u, Napi::Number::New(e, put(std::move(b))));
  return out;
}

std::string Call::describe(const std::string& what) const {
  std::ostringstream s;
  auto one = [&](int32_t id) {
    if (id <= 0 || static_cast<size_t>(id) >= g_slots.size() || !g_slots[id].defined()) {
      s << "<released>";
      return;
    }
    const at::Tensor& t = g_slots[id];
    s << dtypeName(t.scalar_type()) << "[";
    auto sz = t.sizes();
    for (size_t j = 0; j < sz.size(); ++j) s << (j ? "," : "") << sz[j];
    s << "]";
    if (t.is_cuda()) s << "@cuda";
  };
  s << op_ << "(";
  bool first = true;
  if (!list_.empty()) {
    s << "[";
    for (size_t k = 0; k < list_.size() && k < 8; ++k) {
      if (k) s << ", ";
      one(list_[k]);
    }
    s << (list_.size() > 8 ? ", ...]" : "]");
    first = false;
  }
  for (size_t k = 0; k < kMaxArgs; ++k) {
    if (!args_[k]) continue;
    if (!first) s << ", ";
    first = false;
    one(args_[k]);
  }
  s << "): ";
  // First line only: c10 messages may carry context lines we do not want in a JS error.
  size_t nl = what.find('\n');
  std::string line = nl == std::string::npos ? what : what.substr(0, nl);
  if (line.size() > 400) line = line.substr(0, 400) + "...";
  s << line;
  return s.str();
}

static Napi::Value trampoline(const Napi::CallbackInfo& info) {
  const OpDef* def = static_cast<const OpDef*>(info.Data());
  Call c(info, def->name);
  enterOp(def->name);
  try {
    if (__builtin_expect(g_profiling, 0)) {
      at::RecordFunction guard(at::RecordScope::USER_SCOPE);
      if (guard.isActive()) guard.before(std::string("cy::") + def->name);
      return def->fn(c);
    }
    return def->fn(c);
  } catch (const Napi::Error& e) {
    throw Napi::Error::New(info.Env(), c.describe(e.Message()));
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), c.describe(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), c.describe(e.what()));
  } catch (...) {
    throw Napi::Error::New(info.Env(), c.describe("unknown C++ exception"));
  }
}

void define(Napi::Env env, Napi::Object exports, const OpDef* defs, size_t n) {
  for (size_t i = 0; i < n; ++i)
    exports.Set(defs[i].name, Napi::Function::New<trampoline>(env, defs[i].name, const_cast<OpDef*>(&defs[i])));
}

}  // namespace cy
