// Data-parallel collectives on libtorch's own c10d (what PyTorch DDP runs on): one process group per process,
// Gloo on CPU, NCCL when the addon is linked against a CUDA libtorch that ships it. Rendezvous through a c10d
// TCPStore: rank 0 hosts it, or torchrun's agent hosts it (TORCHELASTIC_USE_AGENT_STORE). Every collective runs
// on a libuv worker thread (a Promise for JS), with the group's timeout: a dead or stuck peer ends in an error,
// never a hang. Generic: tensors in, tensors reduced in place; bucketing flattens many small tensors into few
// messages. No model logic here.
#include "common.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef CY_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef CY_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <cstring>
#include <sstream>
#include <thread>

namespace cy {
namespace {

// The collectives this module uses. ProcessGroupGloo/NCCL derive from c10d::ProcessGroup in libtorch 1.13 and from
// c10d::Backend in 2.x, with the same method signatures: calling them on the concrete class builds against both.
struct Collectives {
  virtual ~Collectives() = default;
  virtual c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& t, const c10d::AllreduceOptions& o) = 0;
  virtual c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& t, const c10d::BroadcastOptions& o) = 0;
  virtual c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions& o) = 0;
};

template <typename PG>
struct CollectivesOf : Collectives {
  explicit CollectivesOf(c10::intrusive_ptr<PG> pg) : pg(std::move(pg)) {}
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& t, const c10d::AllreduceOptions& o) override {
    return pg->allreduce(t, o);
  }
  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& t, const c10d::BroadcastOptions& o) override {
    return pg->broadcast(t, o);
  }
  c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions& o) override { return pg->barrier(o); }
  c10::intrusive_ptr<PG> pg;
};

struct Group {
  int rank = 0;
  int size = 1;
  std::string backend;
  std::chrono::milliseconds timeout{0};
  c10::intrusive_ptr<c10d::Store> store;
  std::unique_ptr<Collectives> pg;
};

std::mutex gMutex;
std::shared_ptr<Group> gGroup;  // null until init

std::shared_ptr<Group> group() {
  std::lock_guard<std::mutex> lock(gMutex);
  if (!gGroup) throw std::runtime_error("no process group: call dist.init first");
  return gGroup;
}

// Runs `work` on a libuv worker thread; resolves with `result()` (on the JS thread) or rejects with the message.
class Job : public Napi::AsyncWorker {
 public:
  using Fn = std::function<void()>;
  using Result = std::function<Napi::Value(Napi::Env)>;
  Job(Napi::Env env, const char* what, Fn work, Result result = nullptr)
      : Napi::AsyncWorker(env, what), what_(what), work_(std::move(work)), result_(std::move(result)),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const std::exception& e) {
      SetError(std::string(what_) + ": " + firstLine(e.what()));
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    deferred_.Resolve(result_ ? result_(env) : env.Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  // c10 errors append a C++ backtrace after the first line; the message is what a user needs.
  static std::string firstLine(const char* m) {
    std::string s(m);
    auto nl = s.find("\nException raised from");
    if (nl != std::string::npos) s = s.substr(0, nl);
    return s;
  }
  const char* what_;
  Fn work_;
  Result result_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value run(Napi::Env env, const char* what, Job::Fn fn, Job::Result result = nullptr) {
  auto* job = new Job(env, what, std::move(fn), std::move(result));
  Napi::Promise p = job->promise();
  job->Queue();
  return p;
}

void waitAll(std::vector<c10::intrusive_ptr<c10d::Work>>& works, std::chrono::milliseconds timeout) {
  for (auto& w : works) w->wait(timeout);
}

// Flattened buckets of tensors with the same dtype and device, each at most `bucketBytes` (a tensor larger than
// that is a bucket of its own); order kept, so every rank builds the same buckets from the same tensor list.
std::vector<std::vector<at::Tensor>> buckets(const std::vector<at::Tensor>& ts, int64_t bucketBytes) {
  std::vector<std::vector<at::Tensor>> out;
  int64_t bytes = 0;
  for (const auto& t : ts) {
    int64_t b = t.numel() * static_cast<int64_t>(t.element_size());
    bool fresh = out.empty() || out.back().front().scalar_type() != t.scalar_type() ||
                 out.back().front().device() != t.device() || bytes + b > bucketBytes;
    if (fresh) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(t);
    bytes += b;
  }
  return out;
}

c10d::ReduceOp reduceOp(int code) {
  switch (code) {
    case 0: case 1: return c10d::ReduceOp::SUM;  // 1 = average: a sum, divided afterwards
    case 2: return c10d::ReduceOp::MAX;
    case 3: return c10d::ReduceOp::MIN;
    default: throw std::runtime_error("unknown reduce op " + std::to_string(code));
  }
}

// A client's first connect can fail for good in libtorch 1.13 when it comes before the server listens (seen here:
// "Socket Timeout" even though rank 0 came up a second later), so clients retry with short attempts until the
// deadline; the store keeps the group's timeout for its operations.
c10::intrusive_ptr<c10d::TCPStore> connectStore(const std::string& host, c10d::TCPStoreOptions so,
                                                std::chrono::milliseconds timeout) {
  if (so.isServer) return c10::make_intrusive<c10d::TCPStore>(host, so);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    so.timeout = std::max(std::chrono::milliseconds(100), std::min(left, std::chrono::milliseconds(2000)));
    try {
      auto s = c10::make_intrusive<c10d::TCPStore>(host, so);
      s->setTimeout(timeout);
      return s;
    } catch (const std::exception&) {
      if (std::chrono::steady_clock::now() + std::chrono::milliseconds(200) >= deadline)
        throw std::runtime_error("no rendezvous store at " + host + ":" + std::to_string(so.port) + " within " +
                                 std::to_string(timeout.count() / 1000) + " s (is rank 0 / the torchrun agent up?)");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
}

// distInit(rank, size, host, port, hostStore, timeoutMs, prefix, backend, device): resolves once every rank joined.
// device: "" = loopback when hostStore's host is local, else a hostname or "iface:NAME" for Gloo's transport.
Napi::Value distInit(Call& c) {
  int rank = c.i32(0), size = c.i32(1);
  std::string host = c.info()[2].As<Napi::String>();
  int port = c.i32(3);
  bool hostStore = c.b(4);
  auto timeout = std::chrono::milliseconds(c.i64(5));
  std::string prefix = c.info()[6].As<Napi::String>();
  std::string backend = c.info()[7].As<Napi::String>();
  std::string dev = c.info()[8].As<Napi::String>();
  if (size < 1 || rank < 0 || rank >= size) throw std::runtime_error("rank must be in [0, world size)");
  if (port < 1 || port > 65535) throw std::runtime_error("port must be in 1..65535");
  {
    std::lock_guard<std::mutex> lock(gMutex);
    if (gGroup) throw std::runtime_error("a process group exists already (dist.shutdown first)");
  }
  return run(c.env(), "dist.init", [=]() {
    auto g = std::make_shared<Group>();
    g->rank = rank;
    g->size = size;
    g->backend = backend;
    g->timeout = timeout;
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(port);
    so.isServer = hostStore;
    // Every rank counts itself in (a client's waitWorkers only adds to the init key); the host waits for all.
    so.numWorkers = c10::optional<size_t>(size);
    so.waitWorkers = true;
    so.timeout = timeout;
    auto tcp = connectStore(host, so, timeout);
    g->store = c10::make_intrusive<c10d::PrefixStore>(prefix, tcp);
    if (backend == "gloo") {
#ifdef CY_WITH_GLOO
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      if (dev.rfind("iface:", 0) == 0)
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(dev.substr(6)));
      else if (!dev.empty())
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(dev));
      else
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      opts->threads = 2;
      g->pg = std::make_unique<CollectivesOf<c10d::ProcessGroupGloo>>(c10::make_intrusive<c10d::ProcessGroupGloo>(
          c10::make_intrusive<c10d::PrefixStore>("gloo/", g->store), rank, size, opts));
#else
      throw std::runtime_error("this addon was built without Gloo (install libgloo-dev and rebuild)");
#endif
    } else if (backend == "nccl") {
#ifdef CY_WITH_NCCL
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      g->pg = std::make_unique<CollectivesOf<c10d::ProcessGroupNCCL>>(c10::make_intrusive<c10d::ProcessGroupNCCL>(
          c10::make_intrusive<c10d::PrefixStore>("nccl/", g->store), rank, size, opts));
#else
      throw std::runtime_error("this addon was built without NCCL (link a CUDA libtorch with LIBTORCH_DIR)");
#endif
    } else {
      throw std::runtime_error("unknown backend '" + backend + "' (gloo or nccl)");
    }
    // One barrier: every rank is connected before anyone computes.
    c10d::BarrierOptions bo;
    bo.timeout = timeout;
    std::vector<c10::intrusive_ptr<c10d::Work>> w{g->pg->barrier(bo)};
    waitAll(w, timeout);
    std::lock_guard<std::mutex> lock(gMutex);
    gGroup = g;
  });
}

Napi::Value distShutdown(Call& c) {
  std::lock_guard<std::mutex> lock(gMutex);
  gGroup.reset();
  return c.undef();
}

// distBackends() -> the backends this build has
Napi::Value distBackends(Call& c) {
  Napi::Array a = Napi::Array::New(c.env());
  uint32_t k = 0;
#ifdef CY_WITH_GLOO
  a.Set(k++, "gloo");
#endif
#ifdef CY_WITH_NCCL
  a.Set(k++, "nccl");
#endif
  (void)k;
  return a;
}

// Flatten `ts` into buckets (a single contiguous tensor is used as it is), start `collective` on every bucket so all
// are in flight at once, wait for them, apply `finish` to each result and copy it back into the tensors.
void inBuckets(const Group& g, const std::vector<at::Tensor>& ts, int64_t bucketBytes,
               const std::function<c10::intrusive_ptr<c10d::Work>(std::vector<at::Tensor>&)>& collective,
               const std::function<void(at::Tensor&)>& finish) {
  at::NoGradGuard ng;
  auto bs = buckets(ts, bucketBytes);
  std::vector<at::Tensor> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  auto aliased = [](const std::vector<at::Tensor>& b) { return b.size() == 1 && b[0].is_contiguous(); };
  for (auto& b : bs) {
    std::vector<at::Tensor> parts;
    for (auto& t : b) parts.push_back(t.reshape({-1}));
    flats.push_back(aliased(b) ? b[0].view({-1}) : at::cat(parts));
    std::vector<at::Tensor> one{flats.back()};
    works.push_back(collective(one));
  }
  waitAll(works, g.timeout);
  for (size_t k = 0; k < bs.size(); ++k) {
    if (finish) finish(flats[k]);
    if (aliased(bs[k])) continue;
    int64_t off = 0;
    for (auto& t : bs[k]) {
      t.copy_(flats[k].narrow(0, off, t.numel()).view(t.sizes()));
      off += t.numel();
    }
  }
}

// distAllReduce(ids, op, bucketBytes): in place; op 0 sum, 1 average, 2 max, 3 min.
Napi::Value distAllReduce(Call& c) {
  auto g = group();
  std::vector<at::Tensor> ts = c.tensors(0);  // copied handles: the table is only touched on the JS thread
  int op = c.i32(1);
  int64_t bucketBytes = c.i64(2);
  c10d::AllreduceOptions ao;
  ao.reduceOp = reduceOp(op);
  ao.timeout = g->timeout;
  return run(c.env(), "dist.allReduce", [g, ts, op, bucketBytes, ao]() {
    inBuckets(
        *g, ts, bucketBytes, [&](std::vector<at::Tensor>& one) { return g->pg->allreduce(one, ao); },
        [&](at::Tensor& flat) {
          if (op == 1) flat.div_(g->size);
        });
  });
}

// distBroadcast(ids, root, bucketBytes): in place, from `root`.
Napi::Value distBroadcast(Call& c) {
  auto g = group();
  std::vector<at::Tensor> ts = c.tensors(0);
  int root = c.i32(1);
  int64_t bucketBytes = c.i64(2);
  if (root < 0 || root >= g->size) throw std::runtime_error("root must be a rank");
  c10d::BroadcastOptions bo;
  bo.rootRank = root;
  bo.timeout = g->timeout;
  return run(c.env(), "dist.broadcast", [g, ts, bucketBytes, bo]() {
    inBuckets(
        *g, ts, bucketBytes, [&](std::vector<at::Tensor>& one) { return g->pg->broadcast(one, bo); }, nullptr);
  });
}

Napi::Value distBarrier(Call& c) {
  auto g = group();
  return run(c.env(), "dist.barrier", [g]() {
    c10d::BarrierOptions bo;
    bo.timeout = g->timeout;
    std::vector<c10::intrusive_ptr<c10d::Work>> w{g->pg->barrier(bo)};
    waitAll(w, g->timeout);
  });
}

// distStoreSet(key, Uint8Array) / distStoreGet(key) -> ArrayBuffer (waits for the key up to the timeout): small
// byte messages between ranks (gathering predictions, agreeing on a port), through the rendezvous store.
Napi::Value distStoreSet(Call& c) {
  auto g = group();
  std::string key = c.info()[0].As<Napi::String>();
  auto arr = c.info()[1].As<Napi::Uint8Array>();
  std::vector<uint8_t> bytes(arr.Data(), arr.Data() + arr.ByteLength());
  return run(c.env(), "dist.storeSet", [g, key, bytes]() { g->store->set(key, bytes); });
}

Napi::Value distStoreGet(Call& c) {
  auto g = group();
  std::string key = c.info()[0].As<Napi::String>();
  auto out = std::make_shared<std::vector<uint8_t>>();
  return run(
      c.env(), "dist.storeGet",
      [g, key, out]() {
        g->store->wait({key}, g->timeout);
        *out = g->store->get(key);
      },
      [out](Napi::Env env) -> Napi::Value {
        Napi::ArrayBuffer b = Napi::ArrayBuffer::New(env, out->size());
        if (!out->empty()) std::memcpy(b.Data(), out->data(), out->size());
        return b;
      });
}

// gradsOrZeros(paramIds) -> grad ids: a parameter without a gradient (a rank whose shard was empty) gets zeros, so
// every rank all-reduces the same list.
Napi::Value gradsOrZeros(Call& c) {
  auto ps = c.tensors(0);
  Napi::Array out = Napi::Array::New(c.env(), ps.size());
  for (size_t k = 0; k < ps.size(); ++k) {
    at::Tensor p = ps[k];
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    out.Set(static_cast<uint32_t>(k), Napi::Number::New(c.env(), put(p.grad())));
  }
  return out;
}

// setCudaDevice(index): this thread's current CUDA device (one GPU per local rank), through c10's device guard, so a
// CPU-only build compiles it too (and says no CUDA when called).
Napi::Value setCudaDevice(Call& c) {
  c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->setDevice(c10::Device(c10::DeviceType::CUDA, c.i32(0)));
  return c.undef();
}

const OpDef kDefs[] = {
    {"distInit", distInit}, {"distShutdown", distShutdown},
    {"distBackends", distBackends}, {"distAllReduce", distAllReduce}, {"distBroadcast", distBroadcast},
    {"distBarrier", distBarrier},   {"distStoreSet", distStoreSet},   {"distStoreGet", distStoreGet},
    {"gradsOrZeros", gradsOrZeros}, {"setCudaDevice", setCudaDevice},
};

}  // namespace

void initDist(Napi::Env env, Napi::Object exports) { define(env, exports, kDefs, sizeof(kDefs) / sizeof(kDefs[0])); }

}  // namespace cy
