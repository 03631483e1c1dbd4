// The call budget: a runaway script (a compiled `while true do end`, a recursion, a loop of
// pcalls) is interrupted with an error that pcall cannot swallow.
//
// LuaJIT runs no hook inside JIT-compiled traces, so a count hook alone never fires in a compiled
// loop. LuaJIT's profiler, once started in line mode ('l'), compiles every trace with a check of
// its profile flag at each new source line, and a set flag makes the trace exit to the
// interpreter. We start the profiler only for that instrumentation: its SIGPROF timer is disarmed
// at once and the previous SIGPROF disposition restored (SIGPROF belongs to V8's profiler).
//
// A watchdog thread per state watches the outermost call. Past the budget it sends the state's
// thread a real-time signal (again on every tick until the call ends); the handler does what
// LuaJIT's own interpreter does on Ctrl-C (lua_sethook from a signal handler) and, for the state
// that owns the profiler, runs LuaJIT's profile trigger so compiled code exits to the
// interpreter. The hook then raises on every instruction, so each pcall the error crosses sees it
// again on its next instruction, until the outermost call returns.
//
// LuaJIT's profiler serves one state per process; other states run with the JIT compiler off
// (the interpreter always honours hooks).
#include "vm.h"

#include <luajit.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <sys/time.h>
#include <thread>
#include <time.h>
#include <unistd.h>

namespace {

constexpr int kMaxSlots = 256;
constexpr uint64_t kGenMask = (uint64_t(1) << 48) - 1;

VM *slots[kMaxSlots];
std::mutex globalLock;  // slots, signal installation, profiler ownership
int signo = 0;
void (*profileTrigger)(int) = nullptr;  // LuaJIT's SIGPROF handler: sets its profile flag
VM *profiledVM = nullptr;

int64_t nowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void interruptHook(lua_State *L, lua_Debug *) { raiseInterrupt(L); }

void onSignal(int, siginfo_t *si, void *) {
  int savedErrno = errno;
  if (si->si_code == SI_QUEUE && si->si_pid == getpid()) {
    uintptr_t v = uintptr_t(si->si_value.sival_ptr);
    unsigned slot = unsigned(v & 0xff);
    uint64_t gen = uint64_t(v >> 8);
    VM *vm = __atomic_load_n(&slots[slot], __ATOMIC_ACQUIRE);
    if (vm && pthread_equal(vm->thread, pthread_self()) && vm->active.load() &&
        (vm->gen.load() & kGenMask) == gen) {
      if (!vm->interrupted) vm->interruptedAfter = vm->budgetMs.load();
      vm->interrupted = 1;
      lua_sethook(vm->L, interruptHook, LUA_MASKCOUNT, 1);
      if (vm == profiledVM && profileTrigger) profileTrigger(SIGPROF);
    }
  }
  errno = savedErrno;
}

bool installSignal() {
  if (signo) return true;
  for (int s = SIGRTMAX - 1; s >= SIGRTMIN + 2; s--) {
    struct sigaction old;
    if (sigaction(s, nullptr, &old) != 0) continue;
    if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) continue;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = onSignal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(s, &sa, nullptr) != 0) continue;
    signo = s;
    return true;
  }
  return false;
}

void profileCallback(void *, lua_State *, int, int) {}

}  // namespace

struct Watchdog {
  std::thread thread;
  std::mutex lock;
  std::condition_variable wake;
  bool stop = false;
  std::atomic<int> sleeping{0};
};

static void watchdogLoop(VM *vm, Watchdog *w) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signo);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::unique_lock<std::mutex> lk(w->lock);
  int64_t idleSince = nowMs();
  while (!w->stop) {
    if (!vm->active.load()) {
      // after a second without calls, sleep until the next one wakes us (no idle ticking)
      if (nowMs() - idleSince >= 1000) {
        w->sleeping.store(1);
        w->wake.wait(lk, [&] { return w->stop || vm->active.load() != 0; });
        w->sleeping.store(0);
        idleSince = nowMs();
        continue;
      }
    } else {
      idleSince = nowMs();
    }
    uint32_t budget = vm->budgetMs.load();
    int tick = budget ? int(budget / 10) : 20;
    if (tick < 1) tick = 1;
    if (tick > 20) tick = 20;
    w->wake.wait_for(lk, std::chrono::milliseconds(tick));
    if (w->stop) break;
    if (!vm->active.load()) continue;
    // gen before start: a start newer than gen only makes the elapsed time shorter
    uint64_t gen = vm->gen.load();
    int64_t start = vm->startMs.load();
    budget = vm->budgetMs.load();
    if (budget && nowMs() - start >= int64_t(budget)) {
      union sigval sv;
      sv.sival_ptr = reinterpret_cast<void *>(uintptr_t(((gen & kGenMask) << 8) | uintptr_t(vm->slot)));
      pthread_sigqueue(vm->thread, signo, sv);
    }
  }
}

bool guardInit(VM *vm, bool wantJit) {
  std::lock_guard<std::mutex> g(globalLock);
  for (int i = 0; i < kMaxSlots; i++) {
    if (!slots[i]) {
      vm->slot = i;
      __atomic_store_n(&slots[i], vm, __ATOMIC_RELEASE);
      break;
    }
  }
  bool signalOk = vm->slot >= 0 && installSignal();
  if (signalOk) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  }
  bool jit = wantJit && signalOk && !profiledVM;
  if (jit) {
    struct sigaction before, luajit;
    struct itimerval timerBefore;
    sigaction(SIGPROF, nullptr, &before);
    getitimer(ITIMER_PROF, &timerBefore);
    // 'l': traces check the profile flag at each new line; the interval is irrelevant (disarmed below)
    luaJIT_profile_start(vm->L, "li1000000", profileCallback, nullptr);
    setitimer(ITIMER_PROF, &timerBefore, nullptr);
    sigaction(SIGPROF, &before, &luajit);
    if (!(luajit.sa_flags & SA_SIGINFO) && luajit.sa_handler != SIG_DFL && luajit.sa_handler != SIG_IGN &&
        luajit.sa_handler != before.sa_handler) {
      profileTrigger = luajit.sa_handler;
      profiledVM = vm;
    } else {
      luaJIT_profile_stop(vm->L);
      sigaction(SIGPROF, &before, nullptr);
      jit = false;
    }
  }
  if (!jit) luaJIT_setmode(vm->L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
  vm->jit = jit;
  return signalOk;
}

void guardArm(VM *vm) {
  if (vm->budgetMs.load(std::memory_order_relaxed) == 0 || vm->slot < 0 || !signo) return;
  vm->startMs.store(nowMs());
  vm->gen.fetch_add(1);
  vm->active.store(1);
  Watchdog *w = vm->watchdog;
  if (!w) {
    w = new Watchdog();
    vm->watchdog = w;
    w->thread = std::thread(watchdogLoop, vm, w);
  } else if (w->sleeping.load()) {
    std::lock_guard<std::mutex> g(w->lock);
    w->wake.notify_one();
  }
}

void guardDisarm(VM *vm) {
  vm->active.store(0);
  if (vm->interrupted) {
    lua_sethook(vm->L, nullptr, 0, 0);
    vm->interrupted = 0;
    if (vm->refInterruptMsg != LUA_NOREF) {
      luaL_unref(vm->L, LUA_REGISTRYINDEX, vm->refInterruptMsg);
      vm->refInterruptMsg = LUA_NOREF;
    }
  }
}

void guardClose(VM *vm) {
  vm->active.store(0);
  if (Watchdog *w = vm->watchdog) {
    {
      std::lock_guard<std::mutex> g(w->lock);
      w->stop = true;
      w->wake.notify_one();
    }
    w->thread.join();
    delete w;
    vm->watchdog = nullptr;
  }
  std::lock_guard<std::mutex> g(globalLock);
  if (profiledVM == vm) {
    // luaJIT_profile_stop restores the SIGPROF disposition of its start: keep today's instead
    struct sigaction now;
    struct itimerval timerNow;
    sigaction(SIGPROF, nullptr, &now);
    getitimer(ITIMER_PROF, &timerNow);
    luaJIT_profile_stop(vm->L);
    sigaction(SIGPROF, &now, nullptr);
    setitimer(ITIMER_PROF, &timerNow, nullptr);
    profiledVM = nullptr;
    profileTrigger = nullptr;
  }
  if (vm->slot >= 0) {
    __atomic_store_n(&slots[vm->slot], nullptr, __ATOMIC_RELEASE);
    vm->slot = -1;
  }
}

bool interruptHookSet(lua_State *L) { return lua_gethook(L) == interruptHook; }
