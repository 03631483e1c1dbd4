// table.sort with LuaJIT's algorithm (Lua's quicksort, so equal keys and invalid order functions
// end up as with LuaJIT's own) but interruptible: LuaJIT's sort compares numbers and strings in C
// without reaching any hook, and sorting a few million values takes seconds. This one looks at the
// interrupt every few thousand comparisons.
#include "vm.h"

namespace {

constexpr int kCheckEvery = 4096;

struct Sorter {
  lua_State *L;
  int steps = kCheckEvery;

  // a < b for the values at stack indices a and b (negative, relative to the top)
  bool less(int a, int b) {
    if (--steps <= 0) {
      steps = kCheckEvery;
      if (interruptHookSet(L)) raiseInterrupt(L);
    }
    if (lua_isnil(L, 2)) return lua_lessthan(L, a, b) != 0;
    lua_pushvalue(L, 2);
    lua_pushvalue(L, a - 1);
    lua_pushvalue(L, b - 2);
    lua_call(L, 2, 1);
    bool r = lua_toboolean(L, -1) != 0;
    lua_pop(L, 1);
    return r;
  }

  void set2(int i, int j) {
    lua_rawseti(L, 1, i);
    lua_rawseti(L, 1, j);
  }

  [[noreturn]] void invalidOrder() {
    luaL_error(L, "invalid order function for sorting");
    __builtin_unreachable();
  }

  void sort(int l, int u) {
    while (l < u) {
      // order a[l], a[(l+u)/2], a[u]
      lua_rawgeti(L, 1, l);
      lua_rawgeti(L, 1, u);
      if (less(-1, -2))
        set2(l, u);
      else
        lua_pop(L, 2);
      if (u - l == 1) break;
      int i = (l + u) / 2, j;
      lua_rawgeti(L, 1, i);
      lua_rawgeti(L, 1, l);
      if (less(-2, -1)) {
        set2(i, l);
      } else {
        lua_pop(L, 1);
        lua_rawgeti(L, 1, u);
        if (less(-1, -2))
          set2(i, u);
        else
          lua_pop(L, 2);
      }
      if (u - l == 2) break;
      // the pivot goes to u-1; a[l] <= P == a[u-1] <= a[u]
      lua_rawgeti(L, 1, i);
      lua_pushvalue(L, -1);
      lua_rawgeti(L, 1, u - 1);
      set2(i, u - 1);
      i = l;
      j = u - 1;
      for (;;) {
        while (lua_rawgeti(L, 1, ++i), less(-1, -2)) {
          if (i >= u) invalidOrder();
          lua_pop(L, 1);
        }
        while (lua_rawgeti(L, 1, --j), less(-3, -1)) {
          if (j <= l) invalidOrder();
          lua_pop(L, 1);
        }
        if (j < i) {
          lua_pop(L, 3);
          break;
        }
        set2(i, j);
      }
      lua_rawgeti(L, 1, u - 1);
      lua_rawgeti(L, 1, i);
      set2(u - 1, i);
      // recurse into the smaller part, loop on the larger one
      if (i - l < u - i) {
        j = l;
        i = i - 1;
        l = i + 2;
      } else {
        j = i + 1;
        i = u;
        u = j - 2;
      }
      sort(j, i);
    }
  }
};

int tableSort(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int n = int(lua_objlen(L, 1));
  lua_settop(L, 2);
  if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  Sorter s{L};
  s.sort(1, n);
  return 0;
}

}  // namespace

void openTableSort(lua_State *L) {
  lua_getglobal(L, "table");
  lua_pushcfunction(L, tableSort);
  lua_setfield(L, -2, "sort");
  lua_pop(L, 1);
}
