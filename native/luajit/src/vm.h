// One LuaJIT state as the addon drives it: memory accounting, the call budget and what the N-API
// glue needs to call back into JavaScript. Everything here is used on the thread that created the
// state, except the fields marked "watchdog", which the budget watchdog thread reads.
#pragma once

#include <node_api.h>
#include <lua.hpp>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <pthread.h>
#include <string>
#include <vector>

struct Watchdog;

// small blocks by size class (see vmAlloc in addon.cc)
class SmallPool {
 public:
  static constexpr size_t kGrain = 16;
  static constexpr size_t kMax = 512;
  static constexpr size_t kChunk = 64 * 1024;
  static size_t classOf(size_t n) { return (n - 1) / kGrain; }  // n in 1..kMax
  void *alloc(size_t n);
  void release(void *p, size_t n);
  bool needsChunk(size_t n) const { return !free_[classOf(n)] && left_ < (classOf(n) + 1) * kGrain; }
  ~SmallPool();
  size_t reserved = 0;  // bytes of chunks taken from the system

 private:
  void *free_[kMax / kGrain] = {};
  std::vector<char *> chunks_;
  char *bump_ = nullptr;
  size_t left_ = 0;
};

struct VM {
  lua_State *L = nullptr;
  lua_State *cur = nullptr;     // the thread operations work on: L, or the coroutine a JS function runs for
  napi_env env = nullptr;
  napi_ref dispatch = nullptr;  // JS (index) => result count, or a negative raise code
  pthread_t thread;             // the thread that owns the state (and receives the interrupt signal)
  int slot = -1;                // index in the process-wide table the signal handler looks states up in

  // ---- memory (allocator) ----
  SmallPool pool;
  size_t used = 0;              // bytes LuaJIT asked for
  size_t large = 0;             // of which in blocks past SmallPool::kMax (from malloc)
  size_t limit = 0;             // 0 = no limit
  bool failNextAlloc = false;   // makes the next growing allocation fail: raises a genuine ERRMEM

  // ---- calls ----
  int depth = 0;                // nesting of pcall/metamethod-running operations from JS
  bool jit = false;             // JIT compiler on (only for the state that owns LuaJIT's profiler)

  // ---- budget (watchdog) ----
  std::atomic<uint32_t> budgetMs{0};
  std::atomic<uint64_t> gen{0};       // bumped at each outermost call
  std::atomic<int> active{0};         // an outermost call is running
  std::atomic<int64_t> startMs{0};    // when it started (CLOCK_MONOTONIC_COARSE)
  Watchdog *watchdog = nullptr;
  volatile sig_atomic_t interrupted = 0;  // the interrupt hook is set (signal handler, VM thread)
  uint32_t interruptedAfter = 0;          // budget in force when the call was interrupted

  // ---- registry slots of ours (never handed out through ref()) ----
  int refPending = LUA_NOREF;     // the error value of the last operation that raised
  int pendingStatus = 0;
  int refTags = LUA_NOREF;        // weak-keyed table -> tag id
  int refBoxMeta = LUA_NOREF;     // metatable of the userdata that keeps a JS function index
  int refTostring = LUA_NOREF;    // the base library's tostring
  int refGettable = LUA_NOREF;    // helpers run under lua_pcall (they may run metamethods)
  int refSettable = LUA_NOREF;
  int refInterruptMsg = LUA_NOREF;
  std::vector<uint8_t> userRefs;  // refs handed to JS that are live (index = ref)

  // ---- JS functions whose Lua closures were collected ----
  std::vector<int32_t> freedFunctions;

  std::string scratch;            // UTF-8 of JS strings on their way into Lua
};

// memory.cc: the lua_Alloc of every state (ud is the VM)
void *vmAlloc(void *ud, void *ptr, size_t osize, size_t nsize);
// hands memory glibc keeps after a collection back to the system (a no-op elsewhere)
void vmGiveBack();

// registry and error helpers shared by the translation units
VM *vmOf(lua_State *L);
void raiseInterrupt(lua_State *L);   // pushes the interrupt message and raises it (never returns)
bool interruptHookSet(lua_State *L);

// guard.cc: the call budget
bool guardInit(VM *vm, bool wantJit);  // returns whether the JIT may stay on for this state
void guardArm(VM *vm);
void guardDisarm(VM *vm);
void guardClose(VM *vm);

// strlib.cc: pattern functions that honour the interrupt
void openPatternFunctions(lua_State *L);

// tablib.cc: table.sort that honours the interrupt
void openTableSort(lua_State *L);

// lenfix.cc: makes `#` honour __len on tables (see the file)
bool rewriteLength(const char *src, size_t len, std::string &out);
