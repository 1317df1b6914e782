// Op profiler for benchmarks: libtorch's legacy autograd profiler (RecordFunction callbacks on this thread) plus one
// "cy::<op>" range per addon call (table.cc's trampoline), so every libtorch op is seen inside the engine call that ran
// it and the time outside all calls is JavaScript. profilerStop() folds the push/pop events into self/total times per
// (op, parent op, engine call) instead of returning every event: a training step has tens of thousands.
// No model logic here; bench/profile.ts turns the rows into categories.
#include "common.h"

#include <torch/csrc/autograd/profiler_legacy.h>

#include <map>
#include <tuple>

namespace cy {

bool g_profiling = false;

namespace {

namespace prof = torch::autograd::profiler;

Napi::Value profilerStart(Call& c) {
  if (g_profiling) throw std::runtime_error("the profiler is already running");
  prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU, false, false));
  g_profiling = true;
  return c.undef();
}

struct Agg {
  int64_t count = 0;
  double selfUs = 0, totalUs = 0;
};

// [[name, parent, engineCall, count, selfUs, totalUs], ...]; parent/engineCall "" at the top.
Napi::Value profilerStop(Call& c) {
  if (!g_profiling) throw std::runtime_error("the profiler is not running");
  g_profiling = false;
  auto lists = prof::disableProfilerLegacy();
  std::map<std::tuple<std::string, std::string, std::string>, Agg> rows;
  struct Open {
    const prof::LegacyEvent* ev;
    double childUs;
  };
  for (auto& list : lists) {
    std::vector<Open> stack;
    for (auto& ev : list) {
      if (ev.kind() == prof::EventKind::PushRange) {
        stack.push_back({&ev, 0.0});
      } else if (ev.kind() == prof::EventKind::PopRange && !stack.empty()) {
        Open o = stack.back();
        stack.pop_back();
        double total = o.ev->cpuElapsedUs(ev);
        std::string parent = stack.empty() ? "" : stack.back().ev->name();
        std::string call = "";
        for (auto& s : stack)
          if (std::strncmp(s.ev->name(), "cy::", 4) == 0) { call = s.ev->name(); break; }
        Agg& a = rows[{o.ev->name(), parent, call}];
        a.count++;
        a.totalUs += total;
        a.selfUs += total - o.childUs;
        if (!stack.empty()) stack.back().childUs += total;
      }
    }
  }
  Napi::Env env = c.env();
  Napi::Array out = Napi::Array::New(env, rows.size());
  uint32_t i = 0;
  for (auto& [k, a] : rows) {
    Napi::Array r = Napi::Array::New(env, 6);
    r.Set(0u, std::get<0>(k));
    r.Set(1u, std::get<1>(k));
    r.Set(2u, std::get<2>(k));
    r.Set(3u, Napi::Number::New(env, (double)a.count));
    r.Set(4u, Napi::Number::New(env, a.selfUs));
    r.Set(5u, Napi::Number::New(env, a.totalUs));
    out.Set(i++, r);
  }
  return out;
}

const OpDef kDefs[] = {
    {"profilerStart", profilerStart},
    {"profilerStop", profilerStop},
};

}  // namespace

void initProfiler(Napi::Env env, Napi::Object exports) { define(env, exports, kDefs, sizeof(kDefs) / sizeof(kDefs[0])); }

}  // namespace cy
