// The allocator of every state: LuaJIT asks it for memory, the cap (memoryLimit) is enforced here.
#include "vm.h"

#include <cstdlib>
#include <cstring>
#if defined(__GLIBC__) && !defined(MONATS_SANITIZE)
#include <malloc.h>
#endif

// LuaJIT's own allocator is internal to the library (luaL_newstate uses it, lua_newstate cannot),
// and glibc's malloc makes allocation-heavy scripts (many small tables) about 1.7 times slower.
// Small blocks (up to 512 bytes: tables, strings, closures...) therefore come from size classes of
// 16 bytes carved out of 64 KiB chunks, with one free list per class; LuaJIT always says the old
// size of a block, so no header is needed. Chunks go back to the system when the state closes.
// The cap counts what LuaJIT asked for, and new chunks may not take the state's real footprint
// (chunks + large blocks) past it either.

void *SmallPool::alloc(size_t n) {
  size_t c = classOf(n);
  if (void *p = free_[c]) {
    free_[c] = *static_cast<void **>(p);
    return p;
  }
  size_t size = (c + 1) * kGrain;
  if (left_ < size) {
    // the rest of the chunk goes to the free list of the largest class it holds
    if (left_ >= kGrain) release(bump_, left_ - left_ % kGrain);
    char *chunk = static_cast<char *>(malloc(kChunk));
    if (!chunk) return nullptr;
    try {
      chunks_.push_back(chunk);
    } catch (...) {
      ::free(chunk);
      return nullptr;
    }
    bump_ = chunk;
    left_ = kChunk;
    reserved += kChunk;
  }
  void *p = bump_;
  bump_ += size;
  left_ -= size;
  return p;
}

void SmallPool::release(void *p, size_t n) {
  size_t c = classOf(n);
  *static_cast<void **>(p) = free_[c];
  free_[c] = p;
}

SmallPool::~SmallPool() {
  for (char *c : chunks_) ::free(c);
}

// a sanitizer build gives every block its own malloc, so that AddressSanitizer sees each one
#ifdef MONATS_SANITIZE
constexpr size_t kPoolMax = 0;
#else
constexpr size_t kPoolMax = SmallPool::kMax;
#endif

void *vmAlloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  VM *vm = static_cast<VM *>(ud);
  SmallPool &pool = vm->pool;
  size_t old = ptr ? osize : 0;
  bool oldSmall = old > 0 && old <= kPoolMax;
  if (nsize == 0) {
    if (ptr) {
      if (oldSmall)
        pool.release(ptr, old);
      else {
        free(ptr);
        vm->large -= old;
      }
      vm->used -= old;
    }
    return nullptr;
  }
  if (nsize > old) {
    if (vm->failNextAlloc) {
      vm->failNextAlloc = false;
      return nullptr;
    }
    if (vm->limit && vm->used - old + nsize > vm->limit) return nullptr;
  }
  bool newSmall = nsize <= kPoolMax;
  void *p;
  if (oldSmall && newSmall && SmallPool::classOf(old) == SmallPool::classOf(nsize)) {
    p = ptr;
  } else if (newSmall) {
    if (vm->limit && pool.needsChunk(nsize) && vm->large + pool.reserved + SmallPool::kChunk > vm->limit + SmallPool::kChunk) return nullptr;
    p = pool.alloc(nsize);
    if (!p) return nullptr;
    if (ptr) {
      memcpy(p, ptr, old < nsize ? old : nsize);
      if (oldSmall)
        pool.release(ptr, old);
      else {
        free(ptr);
        vm->large -= old;
      }
    }
  } else {
    if (vm->limit && vm->large + pool.reserved + nsize - (oldSmall ? 0 : old) > vm->limit + SmallPool::kChunk) return nullptr;
    if (ptr && !oldSmall) {
      p = realloc(ptr, nsize);
      if (!p) return nullptr;
      vm->large -= old;
    } else {
      p = malloc(nsize);
      if (!p) return nullptr;
      if (ptr) {
        memcpy(p, ptr, old < nsize ? old : nsize);
        pool.release(ptr, old);
      }
    }
    vm->large += nsize;
  }
  vm->used = vm->used - old + nsize;
  return p;
}


// After a call ran into the cap, its garbage is collected (protectedCall); what the collection
// frees goes back to glibc, which keeps it: its mmap threshold grows to the largest block ever
// given back, so once a big string was freed the next big ones come from the heap and stay in its
// free lists. A script doubling a string up to a 64 MiB cap left the process 41 MB larger for
// good; with this trim, 9 MB. Only on that path: a trim walks every arena (milliseconds on a big heap).
void vmGiveBack() {
#if defined(__GLIBC__) && !defined(MONATS_SANITIZE)
  malloc_trim(0);
#endif
}
