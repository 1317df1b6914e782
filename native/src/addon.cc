// Module init plus runtime controls (threads, RNG, grad mode, autocast, config), tensor creation from
// JS memory, conversion back, and per-tensor metadata.
#include "common.h"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/autocast_mode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <chrono>
#include <cstring>
#include <sstream>
#include <fstream>
#include <mutex>
#include <set>

namespace cy {
namespace {

size_t elemSize(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: return 1;
    case napi_int16_array: case napi_uint16_array: return 2;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
    default: return 8;
  }
}

std::vector<int64_t> shapeArg(Call& c, size_t i) {
  auto s = c.ints(i);
  return std::vector<int64_t>(s.begin(), s.end());
}

// ---- creation ------------------------------------------------------------------------------
// fromBytes(typedArray, srcDtype, shape, dstDtype, device): the bytes are copied (never aliased),
// so unaligned views (e.g. inside a safetensors file) are fine.
Napi::Value fromBytes(Call& c) {
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value ab;
  if (!c.info()[0].IsTypedArray()) throw std::runtime_error("expected a typed array");
  NAPI_THROW_IF_FAILED(c.env(), napi_get_typedarray_info(c.env(), c.info()[0], &type, &length, &data, &ab, &offset),
                       Napi::Value());
  size_t nbytes = length * elemSize(type);
  at::ScalarType src = scalarType(c.i32(1));
  auto shape = shapeArg(c, 2);
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(src));
  size_t want = static_cast<size_t>(t.numel()) * t.element_size();
  if (want != nbytes) {
    std::ostringstream m;
    m << "data has " << nbytes << " bytes but shape [";
    for (size_t k = 0; k < shape.size(); ++k) m << (k ? "," : "") << shape[k];
    m << "] of " << dtypeName(src) << " needs " << want;
    throw std::runtime_error(m.str());
  }
  if (nbytes) std::memcpy(t.data_ptr(), data, nbytes);
  at::ScalarType dst = scalarType(c.i32(3));
  at::Device dev = device(c.i32(4));
  if (dst != src || !dev.is_cpu()) t = t.to(dev, dst);
  return c.ret(t);
}

// toBytes(id, dtype?): contiguous CPU copy of the data (converted to dtype if given) as an ArrayBuffer.
Napi::Value toBytes(Call& c) {
  at::Tensor t = c.t(0);
  if (c.has(1)) t = t.to(scalarType(c.i32(1)));
  t = t.to(at::kCPU).contiguous();
  size_t n = static_cast<size_t>(t.numel()) * t.element_size();
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(c.env(), n);
  if (n) std::memcpy(buf.Data(), t.data_ptr(), n);
  return buf;
}

Napi::Value item(Call& c) {
  const at::Tensor& t = c.t(0);
  if (t.numel() != 1) throw std::runtime_error("item() needs a tensor with exactly one element");
  return c.num(t.item<double>());
}

Napi::Value zeros(Call& c) { return c.ret(at::zeros(shapeArg(c, 0), c.opts(1, 2))); }
Napi::Value ones(Call& c) { return c.ret(at::ones(shapeArg(c, 0), c.opts(1, 2))); }
Napi::Value full(Call& c) { return c.ret(at::full(shapeArg(c, 0), scalarOf(c.d(1)), c.opts(2, 3))); }
Napi::Value randn(Call& c) { return c.ret(at::randn(shapeArg(c, 0), c.opts(1, 2))); }
Napi::Value rand(Call& c) { return c.ret(randUniform(shapeArg(c, 0), c.opts(1, 2))); }
Napi::Value randint(Call& c) {
  return c.ret(at::randint(c.i64(0), c.i64(1), shapeArg(c, 2), c.opts(3, 4)));
}
Napi::Value arange(Call& c) {
  return c.ret(at::arange(scalarOf(c.d(0)), scalarOf(c.d(1)), scalarOf(c.d(2)), c.opts(3, 4)));
}

// ---- metadata ------------------------------------------------------------------------------
Napi::Value shape(Call& c) {
  const at::Tensor& t = c.t(0);
  auto sz = t.sizes();
  Napi::Array a = Napi::Array::New(c.env(), sz.size());
  for (size_t k = 0; k < sz.size(); ++k) a.Set(static_cast<uint32_t>(k), Napi::Number::New(c.env(), sz[k]));
  return a;
}
Napi::Value dtype(Call& c) { return c.num(dtypeCode(c.t(0).scalar_type())); }
Napi::Value deviceOf(Call& c) { return c.num(deviceCode(c.t(0).device())); }
Napi::Value requiresGrad(Call& c) { return Napi::Boolean::New(c.env(), c.t(0).requires_grad()); }
Napi::Value setRequiresGrad(Call& c) {
  c.t(0).set_requires_grad(c.b(1));
  return c.undef();
}
// PyTorch's `param.data = other` (what Module.half() does): the tensor keeps its identity, requires_grad and every
// handle to it, with other's storage, dtype and shape.
Napi::Value setData(Call& c) {
  c.t(0).set_data(c.t(1));
  return c.undef();
}
Napi::Value grad(Call& c) {
  const at::Tensor& g = c.t(0).grad();
  return c.num(g.defined() ? put(g) : 0);
}
Napi::Value zeroGrad(Call& c) {
  // set_to_none semantics (PyTorch >= 2.0 default): frees memory, next backward allocates fresh.
  c.t(0).mutable_grad().reset();
  return c.undef();
}
Napi::Value releaseOne(Call& c) {
  release(c.i32(0));
  return c.undef();
}
Napi::Value liveTensors(Call& c) { return c.num(static_cast<double>(liveCount())); }

// ---- runtime -------------------------------------------------------------------------------
Napi::Value setNumThreads(Call& c) {
  int n = c.i32(0);
  if (n < 1) throw std::runtime_error("thread count must be >= 1");
  at::set_num_threads(n);
  return c.undef();
}
Napi::Value getNumThreads(Call& c) { return c.num(at::get_num_threads()); }

bool cudaAvailable() { return at::detail::getCUDAHooks().hasCUDA(); }

Napi::Value cudaAvail(Call& c) { return Napi::Boolean::New(c.env(), cudaAvailable()); }

Napi::Value manualSeed(Call& c) {
  uint64_t seed = static_cast<uint64_t>(c.d(0));
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  if (cudaAvailable()) {
    auto& hooks = at::detail::getCUDAHooks();
    for (int d = 0; d < hooks.getNumGPUs(); ++d) {
      auto gen = hooks.getDefaultCUDAGenerator(d);
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_current_seed(seed);
    }
  }
  return c.undef();
}

// RNG state blob: "CYRG", u32 count, then per generator (CPU first, then each CUDA device) u32 length + bytes.
void appendU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int k = 0; k < 4; ++k) out.push_back(static_cast<uint8_t>(v >> (8 * k)));
}
uint32_t readU32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }

std::vector<at::Generator> generators() {
  std::vector<at::Generator> gens{at::detail::getDefaultCPUGenerator()};
  if (cudaAvailable()) {
    auto& hooks = at::detail::getCUDAHooks();
    for (int d = 0; d < hooks.getNumGPUs(); ++d) gens.push_back(hooks.getDefaultCUDAGenerator(d));
  }
  return gens;
}

Napi::Value getRngState(Call& c) {
  std::vector<uint8_t> out{'C', 'Y', 'R', 'G'};
  auto gens = generators();
  appendU32(out, static_cast<uint32_t>(gens.size()));
  for (auto& g : gens) {
    at::Tensor st;
    {
      std::lock_guard<std::mutex> lock(g.mutex());
      st = g.get_state().contiguous();
    }
    appendU32(out, static_cast<uint32_t>(st.numel()));
    const uint8_t* p = st.data_ptr<uint8_t>();
    out.insert(out.end(), p, p + st.numel());
  }
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(c.env(), out.size());
  std::memcpy(buf.Data(), out.data(), out.size());
  return buf;
}

Napi::Value setRngState(Call& c) {
  Napi::Uint8Array a = c.info()[0].As<Napi::Uint8Array>();
  const uint8_t* p = a.Data();
  size_t n = a.ElementLength();
  if (n < 8 || std::memcmp(p, "CYRG", 4) != 0) throw std::runtime_error("not an RNG state blob");
  uint32_t count = readU32(p + 4);
  size_t off = 8;
  auto gens = generators();
  for (uint32_t k = 0; k < count; ++k) {
    if (off + 4 > n) throw std::runtime_error("truncated RNG state blob");
    uint32_t len = readU32(p + off);
    off += 4;
    if (off + len > n) throw std::runtime_error("truncated RNG state blob");
    if (k < gens.size()) {
      at::Tensor st = at::empty({static_cast<int64_t>(len)}, at::kByte);
      std::memcpy(st.data_ptr(), p + off, len);
      std::lock_guard<std::mutex> lock(gens[k].mutex());
      gens[k].set_state(st);
    }
    off += len;
  }
  return c.undef();
}

Napi::Value setGradEnabled(Call& c) {
  bool prev = at::GradMode::is_enabled();
  at::GradMode::set_enabled(c.b(0));
  return Napi::Boolean::New(c.env(), prev);
}
Napi::Value isGradEnabled(Call& c) { return Napi::Boolean::New(c.env(), at::GradMode::is_enabled()); }

struct AutocastSaved {
  bool cpu, gpu;
  at::ScalarType cpuType, gpuType;
};
std::vector<AutocastSaved> g_autocast;

// autocastEnter(dtype): enables CPU (and CUDA, when present) autocast with that lower-precision dtype.
Napi::Value autocastEnter(Call& c) {
  at::ScalarType t = scalarType(c.i32(0));
  g_autocast.push_back({at::autocast::is_cpu_enabled(), at::autocast::is_enabled(),
                        at::autocast::get_autocast_cpu_dtype(), at::autocast::get_autocast_gpu_dtype()});
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_autocast_cpu_dtype(t);
  if (cudaAvailable()) {
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(t);
  }
  at::autocast::increment_nesting();
  return c.undef();
}

Napi::Value autocastExit(Call& c) {
  if (g_autocast.empty()) throw std::runtime_error("autocastExit without autocastEnter");
  AutocastSaved s = g_autocast.back();
  g_autocast.pop_back();
  // The cast cache holds bf16 copies of weights; it must be dropped when the outermost scope ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_cpu_enabled(s.cpu);
  at::autocast::set_autocast_cpu_dtype(s.cpuType);
  at::autocast::set_enabled(s.gpu);
  at::autocast::set_autocast_gpu_dtype(s.gpuType);
  return c.undef();
}

// Shared libraries of this process whose name mentions BLAS/LAPACK, from /proc/self/maps:
// tells whether the reference BLAS or OpenBLAS/MKL is the one libtorch calls.
Napi::Value blasLibraries(Call& c) {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> libs;
  std::string line;
  while (std::getline(maps, line)) {
    size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    std::string base = path.substr(path.rfind('/') + 1);
    if (base.find("blas") != std::string::npos || base.find("lapack") != std::string::npos ||
        base.find("mkl") != std::string::npos)
      libs.insert(path);
  }
  Napi::Array a = Napi::Array::New(c.env(), libs.size());
  uint32_t k = 0;
  for (auto& l : libs) a.Set(k++, Napi::String::New(c.env(), l));
  return a;
}

Napi::Value showConfig(Call& c) { return Napi::String::New(c.env(), at::show_config()); }

// nanoseconds per at::add of two existing tensors, measured entirely in C++ (for the binding-overhead benchmark).
Napi::Value benchAddNs(Call& c) {
  const at::Tensor& a = c.t(0);
  const at::Tensor& b = c.t(1);
  int64_t n = c.i64(2);
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t k = 0; k < n; ++k) {
    at::Tensor r = at::add(a, b);
  }
  auto t1 = std::chrono::steady_clock::now();
  return c.num(std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(n));
}

const OpDef kDefs[] = {
    {"fromBytes", fromBytes}, {"toBytes", toBytes}, {"item", item},
    {"zeros", zeros}, {"ones", ones}, {"full", full}, {"randn", randn}, {"rand", rand}, {"randint", randint}, {"arange", arange},
    {"shape", shape}, {"dtype", dtype}, {"device", deviceOf},
    {"requiresGrad", requiresGrad}, {"setRequiresGrad", setRequiresGrad}, {"setData", setData}, {"grad", grad}, {"zeroGrad", zeroGrad},
    {"release", releaseOne}, {"liveTensors", liveTensors},
    {"setNumThreads", setNumThreads}, {"getNumThreads", getNumThreads}, {"cudaAvailable", cudaAvail},
    {"manualSeed", manualSeed}, {"getRngState", getRngState}, {"setRngState", setRngState},
    {"setGradEnabled", setGradEnabled}, {"isGradEnabled", isGradEnabled},
    {"autocastEnter", autocastEnter}, {"autocastExit", autocastExit},
    {"blasLibraries", blasLibraries}, {"showConfig", showConfig}, {"benchAddNs", benchAddNs},
};

}  // namespace

void initTable(Napi::Env env, Napi::Object exports) { define(env, exports, kDefs, sizeof(kDefs) / sizeof(kDefs[0])); }

}  // namespace cy

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  cy::initTable(env, exports);
  cy::initOps(env, exports);
  cy::initOptim(env, exports);
  cy::initDist(env, exports);
  cy::initCrash(env, exports);
  cy::initProfiler(env, exports);
  return exports;
}

NODE_API_MODULE(cyclener_engine, Init)
