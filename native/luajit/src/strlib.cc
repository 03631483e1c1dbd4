// string.find / match / gmatch / gsub with Lua 5.1 pattern semantics as LuaJIT 2.1 implements
// them (error texts included), but interruptible: LuaJIT's own matcher is C code that no hook
// reaches, so a pathological pattern (`string.rep("a", 40) .. "b"` against "a-a-a-...-b") would
// run for hours past any call budget. This matcher checks for the interrupt hook every few
// thousand steps and raises the interrupt error itself.
#include "vm.h"

#include <cstring>

namespace {

constexpr int kMaxCaptures = 32;   // LUA_MAXCAPTURES
constexpr int kMaxDepth = 200;     // LuaJIT's nesting limit for match()
constexpr int kCheckEvery = 4096;  // steps between two looks at the interrupt flag
constexpr ptrdiff_t kUnfinished = -1;
constexpr ptrdiff_t kPosition = -2;
constexpr char kEsc = '%';

struct MatchState {
  const char *srcInit;
  const char *srcEnd;
  const char *patEnd;
  lua_State *L;
  int level;
  int depth;
  int steps;
  struct {
    const char *init;
    ptrdiff_t len;
  } capture[kMaxCaptures];
};

[[noreturn]] void fail(MatchState *ms, const char *msg) {
  luaL_error(ms->L, "%s", msg);
  __builtin_unreachable();
}

inline void step(MatchState *ms) {
  if (--ms->steps <= 0) {
    ms->steps = kCheckEvery;
    if (interruptHookSet(ms->L)) raiseInterrupt(ms->L);
  }
}

inline int uc(char c) { return static_cast<unsigned char>(c); }

bool isClass(int c, int cl) {
  bool r;
  switch (cl | 0x20) {
    case 'a': r = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); break;
    case 'c': r = c < 32 || c == 127; break;
    case 'd': r = c >= '0' && c <= '9'; break;
    case 'g': r = c > 32 && c < 127; break;
    case 'l': r = c >= 'a' && c <= 'z'; break;
    case 'p': r = (c > 32 && c < 48) || (c > 57 && c < 65) || (c > 90 && c < 97) || (c > 122 && c < 127); break;
    case 's': r = c == ' ' || (c >= 9 && c <= 13); break;
    case 'u': r = c >= 'A' && c <= 'Z'; break;
    case 'w': r = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); break;
    case 'x': r = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); break;
    case 'z': r = c == 0; break;
    default: return cl == c;
  }
  if (cl < 'a') return !r;  // upper-case class letter: the complement
  return r;
}

bool letterClass(int cl) {
  switch (cl | 0x20) {
    case 'a': case 'c': case 'd': case 'g': case 'l': case 'p': case 's': case 'u': case 'w': case 'x': case 'z':
      return (cl >= 'a' && cl <= 'z') || (cl >= 'A' && cl <= 'Z');
    default:
      return false;
  }
}

bool matchClass(int c, int cl) { return letterClass(cl) ? isClass(c, cl) : cl == c; }

// end of the single-character class starting at p
const char *classEnd(MatchState *ms, const char *p) {
  switch (*p++) {
    case kEsc:
      if (*p == '\0') fail(ms, "malformed pattern (ends with '%')");
      return p + 1;
    case '[':
      if (*p == '^') p++;
      do {
        if (*p == '\0') fail(ms, "malformed pattern (missing ']')");
        if (*(p++) == kEsc && *p != '\0') p++;
      } while (*p != ']');
      return p + 1;
    default:
      return p;
  }
}

bool matchBracket(int c, const char *p, const char *ec) {
  bool sig = true;
  if (*(p + 1) == '^') {
    sig = false;
    p++;
  }
  while (++p < ec) {
    if (*p == kEsc) {
      p++;
      if (matchClass(c, uc(*p))) return sig;
    } else if (*(p + 1) == '-' && p + 2 < ec) {
      p += 2;
      if (uc(*(p - 2)) <= c && c <= uc(*p)) return sig;
    } else if (uc(*p) == c) {
      return sig;
    }
  }
  return !sig;
}

bool singleMatch(int c, const char *p, const char *ep) {
  switch (*p) {
    case '.': return true;
    case kEsc: return matchClass(c, uc(*(p + 1)));
    case '[': return matchBracket(c, p, ep - 1);
    default: return uc(*p) == c;
  }
}

const char *match(MatchState *ms, const char *s, const char *p);

const char *matchBalance(MatchState *ms, const char *s, const char *p) {
  if (*p == 0 || *(p + 1) == 0) fail(ms, "unbalanced pattern");
  if (*s != *p) return nullptr;
  int b = *p, e = *(p + 1), cont = 1;
  while (++s < ms->srcEnd) {
    step(ms);
    if (*s == e) {
      if (--cont == 0) return s + 1;
    } else if (*s == b) {
      cont++;
    }
  }
  return nullptr;
}

const char *maxExpand(MatchState *ms, const char *s, const char *p, const char *ep) {
  ptrdiff_t i = 0;
  while (s + i < ms->srcEnd && singleMatch(uc(s[i]), p, ep)) {
    step(ms);
    i++;
  }
  while (i >= 0) {
    const char *res = match(ms, s + i, ep + 1);
    if (res) return res;
    i--;
  }
  return nullptr;
}

const char *minExpand(MatchState *ms, const char *s, const char *p, const char *ep) {
  for (;;) {
    const char *res = match(ms, s, ep + 1);
    if (res) return res;
    if (s < ms->srcEnd && singleMatch(uc(*s), p, ep))
      s++;
    else
      return nullptr;
  }
}

const char *startCapture(MatchState *ms, const char *s, const char *p, ptrdiff_t what) {
  int level = ms->level;
  if (level >= kMaxCaptures) fail(ms, "too many captures");
  ms->capture[level].init = s;
  ms->capture[level].len = what;
  ms->level = level + 1;
  const char *res = match(ms, s, p);
  if (!res) ms->level--;
  return res;
}

const char *endCapture(MatchState *ms, const char *s, const char *p) {
  int l = ms->level - 1;
  while (l >= 0 && ms->capture[l].len != kUnfinished) l--;
  if (l < 0) fail(ms, "invalid pattern capture");
  ms->capture[l].len = s - ms->capture[l].init;
  const char *res = match(ms, s, p);
  if (!res) ms->capture[l].len = kUnfinished;
  return res;
}

const char *matchCapture(MatchState *ms, const char *s, int l) {
  l -= '1';
  if (l < 0 || l >= ms->level || ms->capture[l].len == kUnfinished) fail(ms, "invalid capture index");
  size_t len = size_t(ms->capture[l].len);
  if (size_t(ms->srcEnd - s) >= len && memcmp(ms->capture[l].init, s, len) == 0) return s + len;
  return nullptr;
}

const char *match(MatchState *ms, const char *s, const char *p) {
  if (++ms->depth > kMaxDepth) fail(ms, "pattern too complex");
  step(ms);
init:
  switch (*p) {
    case '(':
      s = (*(p + 1) == ')') ? startCapture(ms, s, p + 2, kPosition) : startCapture(ms, s, p + 1, kUnfinished);
      break;
    case ')':
      s = endCapture(ms, s, p + 1);
      break;
    case kEsc:
      if (*(p + 1) == 'b') {
        s = matchBalance(ms, s, p + 2);
        if (s == nullptr) break;
        p += 4;
        goto init;
      }
      if (*(p + 1) == 'f') {
        p += 2;
        if (*p != '[') fail(ms, "missing '[' after '%f' in pattern");
        const char *ep = classEnd(ms, p);
        int previous = (s == ms->srcInit) ? 0 : uc(*(s - 1));
        if (matchBracket(previous, p, ep - 1) || !matchBracket(uc(*s), p, ep - 1)) {
          s = nullptr;
          break;
        }
        p = ep;
        goto init;
      }
      if (*(p + 1) >= '0' && *(p + 1) <= '9') {
        s = matchCapture(ms, s, uc(*(p + 1)));
        if (s == nullptr) break;
        p += 2;
        goto init;
      }
      goto dflt;
    case '\0':
      break;
    case '$':
      if (*(p + 1) != '\0') goto dflt;
      if (s != ms->srcEnd) s = nullptr;
      break;
    default:
    dflt: {
      const char *ep = classEnd(ms, p);
      bool m = s < ms->srcEnd && singleMatch(uc(*s), p, ep);
      switch (*ep) {
        case '?': {
          const char *res;
          if (m && (res = match(ms, s + 1, ep + 1)) != nullptr) {
            s = res;
            break;
          }
          p = ep + 1;
          goto init;
        }
        case '*':
          s = maxExpand(ms, s, p, ep);
          break;
        case '+':
          s = m ? maxExpand(ms, s + 1, p, ep) : nullptr;
          break;
        case '-':
          s = minExpand(ms, s, p, ep);
          break;
        default:
          if (m) {
            s++;
            p = ep;
            step(ms);
            goto init;
          }
          s = nullptr;
          break;
      }
      break;
    }
  }
  ms->depth--;
  return s;
}

void pushOneCapture(MatchState *ms, int i, const char *s, const char *e) {
  if (i >= ms->level) {
    if (i == 0)
      lua_pushlstring(ms->L, s, size_t(e - s));
    else
      fail(ms, "invalid capture index");
  } else {
    ptrdiff_t l = ms->capture[i].len;
    if (l == kUnfinished) fail(ms, "unfinished capture");
    if (l == kPosition)
      lua_pushnumber(ms->L, double(ms->capture[i].init - ms->srcInit + 1));
    else
      lua_pushlstring(ms->L, ms->capture[i].init, size_t(l));
  }
}

int pushCaptures(MatchState *ms, const char *s, const char *e) {
  int n = (ms->level == 0 && s) ? 1 : ms->level;
  luaL_checkstack(ms->L, n, "too many captures");
  for (int i = 0; i < n; i++) pushOneCapture(ms, i, s, e);
  return n;
}

void initState(MatchState *ms, lua_State *L, const char *s, size_t len) {
  ms->L = L;
  ms->srcInit = s;
  ms->srcEnd = s + len;
  ms->steps = kCheckEvery;
}

bool hasSpecials(const char *p, size_t len) {
  // a NUL ends a pattern: LuaJIT looks for specials only up to it (strpbrk)
  for (size_t i = 0; i < len && p[i]; i++)
    if (strchr("^$*+?.([%-", p[i])) return true;
  return false;
}

// the start position of find/match: LuaJIT's 5.1 rules (past the end: the end)
size_t startOffset(lua_State *L, int arg, size_t len) {
  double d = luaL_optnumber(L, arg, 1);
  // LuaJIT truncates to int32 (an out-of-range value becomes INT32_MIN, as the x86 conversion does)
  long long start = (d >= -2147483648.0 && d < 2147483648.0) ? (long long)d : -2147483648LL;
  if (start < 0)
    start += (long long)len;
  else
    start--;
  if (start < 0) start = 0;
  if ((size_t)start > len) start = (long long)len;
  return size_t(start);
}

int findAux(lua_State *L, bool find) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = startOffset(L, 3, ls);
  if (find && (lua_toboolean(L, 4) || !hasSpecials(p, lp))) {
    // plain search: LuaJIT compares the whole pattern, NULs included
    const void *q = lp == 0 ? s + init : memmem(s + init, ls - init, p, lp);
    if (q) {
      const char *qc = static_cast<const char *>(q);
      lua_pushnumber(L, double(qc - s + 1));
      lua_pushnumber(L, double(qc - s + lp));
      return 2;
    }
  } else {
    MatchState ms;
    initState(&ms, L, s, ls);
    const char *src = s + init;
    bool anchor = *p == '^';
    if (anchor) p++;
    do {
      ms.level = ms.depth = 0;
      const char *e = match(&ms, src, p);
      if (e) {
        if (find) {
          lua_pushnumber(L, double(src - s + 1));
          lua_pushnumber(L, double(e - s));
          return pushCaptures(&ms, nullptr, nullptr) + 2;
        }
        return pushCaptures(&ms, src, e);
      }
    } while (src++ < ms.srcEnd && !anchor);
  }
  lua_pushnil(L);
  return 1;
}

int strFind(lua_State *L) { return findAux(L, true); }
int strMatch(lua_State *L) { return findAux(L, false); }

int gmatchAux(lua_State *L) {
  size_t ls;
  const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
  const char *p = lua_tostring(L, lua_upvalueindex(2));
  size_t pos = size_t(lua_tonumber(L, lua_upvalueindex(3)));
  MatchState ms;
  initState(&ms, L, s, ls);
  for (const char *src = s + pos; src <= ms.srcEnd; src++) {
    ms.level = ms.depth = 0;
    const char *e = match(&ms, src, p);
    if (e) {
      size_t next = size_t(e - s);
      if (e == src) next++;  // an empty match still moves on
      lua_pushnumber(L, double(next));
      lua_replace(L, lua_upvalueindex(3));
      return pushCaptures(&ms, src, e);
    }
  }
  return 0;
}

int strGmatch(lua_State *L) {
  luaL_checkstring(L, 1);
  luaL_checkstring(L, 2);
  lua_settop(L, 2);
  lua_pushnumber(L, 0);
  lua_pushcclosure(L, gmatchAux, 3);
  return 1;
}

void addReplacement(MatchState *ms, luaL_Buffer *b, const char *s, const char *e) {
  size_t l;
  const char *news = lua_tolstring(ms->L, 3, &l);
  for (size_t i = 0; i < l; i++) {
    if (news[i] != kEsc) {
      luaL_addchar(b, news[i]);
    } else {
      i++;
      int c = i < l ? uc(news[i]) : 0;
      if (!(c >= '0' && c <= '9')) {
        luaL_addchar(b, char(c));
      } else if (c == '0') {
        luaL_addlstring(b, s, size_t(e - s));
      } else {
        pushOneCapture(ms, c - '1', s, e);
        luaL_addvalue(b);
      }
    }
  }
}

void addValue(MatchState *ms, luaL_Buffer *b, const char *s, const char *e) {
  lua_State *L = ms->L;
  switch (lua_type(L, 3)) {
    case LUA_TNUMBER:
    case LUA_TSTRING:
      addReplacement(ms, b, s, e);
      return;
    case LUA_TFUNCTION: {
      lua_pushvalue(L, 3);
      int n = pushCaptures(ms, s, e);
      lua_call(L, n, 1);
      break;
    }
    case LUA_TTABLE:
      pushOneCapture(ms, 0, s, e);
      lua_gettable(L, 3);
      break;
  }
  if (!lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    lua_pushlstring(L, s, size_t(e - s));
  } else if (!lua_isstring(L, -1)) {
    luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  }
  luaL_addvalue(b);
}

int strGsub(lua_State *L) {
  size_t srcl;
  const char *src = luaL_checklstring(L, 1, &srcl);
  const char *p = luaL_checkstring(L, 2);
  int tr = lua_type(L, 3);
  double maxd = luaL_optnumber(L, 4, double(srcl) + 1);
  long long maxS = maxd > 2147483647.0 ? 2147483647LL : (long long)maxd;
  bool anchor = *p == '^';
  if (anchor) p++;
  if (!(tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE))
    luaL_argerror(L, 3, "string/function/table expected");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  MatchState ms;
  initState(&ms, L, src, srcl);
  long long n = 0;
  while (n < maxS) {
    ms.level = ms.depth = 0;
    const char *e = match(&ms, src, p);
    if (e) {
      n++;
      addValue(&ms, &b, src, e);
    }
    if (e && e > src)
      src = e;
    else if (src < ms.srcEnd)
      luaL_addchar(&b, *src++);
    else
      break;
    if (anchor) break;
  }
  luaL_addlstring(&b, src, size_t(ms.srcEnd - src));
  luaL_pushresult(&b);
  lua_pushnumber(L, double(n));
  return 2;
}

}  // namespace

void openPatternFunctions(lua_State *L) {
  lua_getglobal(L, "string");
  lua_pushcfunction(L, strFind);
  lua_setfield(L, -2, "find");
  lua_pushcfunction(L, strMatch);
  lua_setfield(L, -2, "match");
  lua_pushcfunction(L, strGmatch);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "gmatch");
  lua_setfield(L, -2, "gfind");  // Lua 5.0's name, still used by MonaServer scripts
  lua_pushcfunction(L, strGsub);
  lua_setfield(L, -2, "gsub");
  lua_pop(L, 1);
}
