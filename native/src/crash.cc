// Fatal-signal report. A crash inside libtorch/oneDNN (SIGILL from a JIT kernel, SIGSEGV, SIGBUS, SIGFPE) would
// otherwise end the process with no word (a shell shows exit 132); this handler writes one line to stderr first:
//   <prefix>: fatal SIGILL (illegal instruction) in native code <context> (last engine op: <op>,
//   pc 0x... in <library or "JIT/anonymous code">); <hint>
// then gives the signal its default action (so the exit status, a core dump and a parent's `signal` stay as before).
// JS sets prefix/context/hint with setCrashText (e.g. the training step and "rerun with --fp32"); the trampoline
// (table.cc) records the name of the op it enters. The handler only reads these and calls write(2), plus dladdr
// for the library name (it can only block when the crash hit inside the dynamic loader).
// A handler that was installed before ours (Node's WebAssembly trap handler on SIGSEGV) runs first: when it handles
// the fault (moves the pc to a trap landing pad) nothing is printed.
// CYCLENER_CRASH_HANDLER=0 leaves the signals alone. CYCLENER_TEST_TRAP=OP:N[:segv] makes the Nth call of op OP
// execute an illegal instruction (or a null write), for the tests of this report.
#include "common.h"

#include <dlfcn.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace cy {

std::atomic<const char*> g_lastOp{nullptr};
bool g_trapArmed = false;

namespace {

constexpr int kSignals[] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE};
struct sigaction g_prev[NSIG];

// prefix, context, hint. Each has two buffers: the JS thread writes the one not published, then publishes it, so a
// signal handler always reads a whole string.
struct Text {
  char buf[2][512] = {{0}, {0}};
  std::atomic<int> cur{0};
  void set(const std::string& s) {
    const int next = 1 - cur.load(std::memory_order_relaxed);
    const size_t n = std::min(s.size(), sizeof(buf[0]) - 1);
    std::memcpy(buf[next], s.data(), n);
    buf[next][n] = 0;
    cur.store(next, std::memory_order_release);
  }
  const char* get() const { return buf[cur.load(std::memory_order_acquire)]; }
};
Text g_text[3];
enum { kPrefix = 0, kContext = 1, kHint = 2 };

std::string g_trapOp;
long g_trapAt = 0;
bool g_trapSegv = false;
std::atomic<long> g_trapCalls{0};

// One line, built in a fixed buffer (no allocation in a signal handler).
struct Line {
  char b[2048];
  size_t n = 0;
  Line& add(const char* s) {
    while (s && *s && n < sizeof(b) - 1) b[n++] = *s++;
    return *this;
  }
  Line& hex(uintptr_t v) {
    char t[2 + 2 * sizeof(v)];
    int k = 0;
    do {
      t[k++] = "0123456789abcdef"[v & 15];
      v >>= 4;
    } while (v && k < static_cast<int>(sizeof(t)));
    add("0x");
    while (k > 0 && n < sizeof(b) - 1) b[n++] = t[--k];
    return *this;
  }
};

uintptr_t pcOf(void* uc) {
  if (!uc) return 0;
  const ucontext_t* u = static_cast<const ucontext_t*>(uc);
#if defined(__x86_64__)
  return static_cast<uintptr_t>(u->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<uintptr_t>(u->uc_mcontext.pc);
#else
  (void)u;
  return 0;
#endif
}

const char* describe(int sig) {
  switch (sig) {
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGSEGV: return "SIGSEGV (invalid memory access)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGFPE: return "SIGFPE (arithmetic exception)";
    default: return "signal";
  }
}

bool isHandler(const struct sigaction& a) {
  if (a.sa_flags & SA_SIGINFO) return a.sa_sigaction != nullptr;
  return a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN;
}

void onFatal(int sig, siginfo_t* info, void* uc) {
  const int savedErrno = errno;
  const struct sigaction prev = g_prev[sig];
  if (isHandler(prev)) {
    const uintptr_t pc = pcOf(uc);
    if (prev.sa_flags & SA_SIGINFO)
      prev.sa_sigaction(sig, info, uc);
    else
      prev.sa_handler(sig);
    if (pc != 0 && pcOf(uc) != pc) {  // handled (e.g. a WebAssembly bounds trap): carry on where it says
      errno = savedErrno;
      return;
    }
  }
  static std::atomic<int> reported{0};
  if (reported.exchange(1) == 0) {
    Line l;
    const char* prefix = g_text[kPrefix].get();
    l.add(*prefix ? prefix : "cyclener").add(": fatal ").add(describe(sig)).add(" in native code");
    const char* context = g_text[kContext].get();
    if (*context) l.add(" ").add(context);
    const char* op = g_lastOp.load(std::memory_order_relaxed);
    l.add(" (last engine op: ").add(op ? op : "none");
    const uintptr_t pc = pcOf(uc);
    if (pc && info && info->si_code > 0) {  // kernel-generated: the pc is the faulting instruction
      l.add(", pc ").hex(pc);
      Dl_info d;
      if (dladdr(reinterpret_cast<void*>(pc), &d) && d.dli_fname && *d.dli_fname) {
        const char* base = std::strrchr(d.dli_fname, '/');
        l.add(" in ").add(base ? base + 1 : d.dli_fname);
      } else {
        l.add(" in JIT/anonymous code");
      }
    }
    l.add(")");
    const char* hint = g_text[kHint].get();
    if (*hint) l.add("; ").add(hint);
    l.add("\n");
    for (size_t off = 0; off < l.n;) {
      ssize_t w = write(2, l.b + off, l.n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
  }
  // Default action from here on: a fault re-executes the instruction on return and ends the process with this
  // signal; a signal sent with kill() is sent again (it stays blocked until this handler returns).
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  if (!info || info->si_code <= 0) raise(sig);
  errno = savedErrno;
}

void install() {
  const char* off = std::getenv("CYCLENER_CRASH_HANDLER");
  if (off && std::strcmp(off, "0") == 0) return;
  for (int sig : kSignals) {
    struct sigaction a;
    std::memset(&a, 0, sizeof(a));
    a.sa_sigaction = onFatal;
    a.sa_flags = SA_SIGINFO | SA_ONSTACK;  // SA_ONSTACK: a thread's sigaltstack if it has one (none here by default)
    sigemptyset(&a.sa_mask);
    if (sigaction(sig, &a, &g_prev[sig]) != 0) std::memset(&g_prev[sig], 0, sizeof(g_prev[sig]));
  }
  const char* trap = std::getenv("CYCLENER_TEST_TRAP");
  if (trap && *trap) {
    std::string t(trap);
    size_t c1 = t.find(':');
    if (c1 != std::string::npos) {
      size_t c2 = t.find(':', c1 + 1);
      g_trapOp = t.substr(0, c1);
      g_trapAt = std::strtol(t.c_str() + c1 + 1, nullptr, 10);
      g_trapSegv = c2 != std::string::npos && t.substr(c2 + 1) == "segv";
      g_trapArmed = g_trapAt > 0;
    }
  }
}

// setCrashText(which, text): which 0 = prefix (default "cyclener"), 1 = context, 2 = hint; "" clears it.
Napi::Value setCrashText(Call& c) {
  const int which = c.i32(0);
  if (which < 0 || which > 2) throw std::runtime_error("setCrashText: which must be 0, 1 or 2");
  g_text[which].set(c.info()[1].As<Napi::String>().Utf8Value());
  return c.undef();
}

// Whether this process's fatal signals go through the report (false with CYCLENER_CRASH_HANDLER=0).
Napi::Value crashHandlerInstalled(Call& c) {
  struct sigaction a;
  bool ours = sigaction(SIGILL, nullptr, &a) == 0 && (a.sa_flags & SA_SIGINFO) && a.sa_sigaction == onFatal;
  return Napi::Boolean::New(c.env(), ours);
}

const OpDef kDefs[] = {
    {"setCrashText", setCrashText},
    {"crashHandlerInstalled", crashHandlerInstalled},
};

}  // namespace

void trapHook(const char* op) {
  if (g_trapOp != op) return;
  if (g_trapCalls.fetch_add(1) + 1 != g_trapAt) return;
  if (g_trapSegv) {
    static volatile uintptr_t unmapped = 8;  // not a literal null: the compiler would turn that into a trap itself
    *reinterpret_cast<volatile int*>(unmapped) = 1;
  }
  __builtin_trap();  // ud2 on x86-64 (SIGILL), brk on aarch64 (SIGTRAP there)
}

void initCrash(Napi::Env env, Napi::Object exports) {
  static std::once_flag once;  // one process, possibly several Node environments (worker threads)
  std::call_once(once, install);
  define(env, exports, kDefs, sizeof(kDefs) / sizeof(kDefs[0]));
}

}  // namespace cy
