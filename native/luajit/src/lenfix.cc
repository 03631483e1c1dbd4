// `#` honouring __len on tables, as LuaJIT built with its Lua 5.2 switch does.
//
// Debian's LuaJIT is built without that switch: its `#` gives the raw border of a table and never
// looks at __len (it does for userdata). The objects our binding gives scripts (mona.clients,
// publications, data...) are tables with metatables, and scripts count them with `#`. Nothing in
// a stock LuaJIT can change what the length operator does on a table, so chunks are rewritten as
// they are loaded: every `#operand` becomes `(__mona_len(operand))`, where `__mona_len` is a local
// that the rewritten chunk fetches once from the string metatable (reachable whatever the chunk's
// environment), and the helper honours __len before falling back to the raw length.
//
// Only characters are inserted, never a line break, so line numbers in messages stay right. The
// operand's extent follows Lua's grammar: `#` binds tighter than every binary operator but `^`,
// so the operand is a unary expression with its suffixes (`#t.list[i]:m()`) and any `^` chain.
// A chunk this scanner cannot follow (it is not valid Lua) is left as it is, so the compiler
// reports its own error.
#include "vm.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kMaxTokens = 4000000;

enum Kind : uint8_t { K_EOF, K_NAME, K_NUMBER, K_STRING, K_OP, K_KEYWORD };

enum Keyword : uint8_t {
  KW_NONE, KW_AND, KW_BREAK, KW_DO, KW_ELSE, KW_ELSEIF, KW_END, KW_FALSE, KW_FOR, KW_FUNCTION, KW_GOTO, KW_IF,
  KW_IN, KW_LOCAL, KW_NIL, KW_NOT, KW_OR, KW_REPEAT, KW_RETURN, KW_THEN, KW_TRUE, KW_UNTIL, KW_WHILE
};

// multi-character operators get codes above the byte range
enum : uint16_t { OP_CONCAT = 256, OP_DOTS, OP_EQ, OP_NE, OP_LE, OP_GE, OP_DBCOLON };

struct Token {
  Kind kind;
  uint16_t code;  // keyword or operator
  uint32_t start, end;
};

const struct {
  const char *word;
  Keyword kw;
} kKeywords[] = {
    {"and", KW_AND},     {"break", KW_BREAK},   {"do", KW_DO},         {"else", KW_ELSE},   {"elseif", KW_ELSEIF},
    {"end", KW_END},     {"false", KW_FALSE},   {"for", KW_FOR},       {"function", KW_FUNCTION},
    {"goto", KW_GOTO},   {"if", KW_IF},         {"in", KW_IN},         {"local", KW_LOCAL}, {"nil", KW_NIL},
    {"not", KW_NOT},     {"or", KW_OR},         {"repeat", KW_REPEAT}, {"return", KW_RETURN},
    {"then", KW_THEN},   {"true", KW_TRUE},     {"until", KW_UNTIL},   {"while", KW_WHILE},
};

inline bool isIdentStart(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80; }
inline bool isIdent(unsigned char c) { return isIdentStart(c) || (c >= '0' && c <= '9'); }
inline bool isDigit(unsigned char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  Lexer(const char *s, size_t n, size_t from) : s_(reinterpret_cast<const unsigned char *>(s)), n_(n), p_(from) {}

  // false: a construct the compiler will reject (unfinished string or long bracket)
  bool run(std::vector<Token> &out) {
    for (;;) {
      if (!skipSpace()) return false;
      if (p_ >= n_) {
        out.push_back({K_EOF, 0, uint32_t(n_), uint32_t(n_)});
        return true;
      }
      size_t start = p_;
      unsigned char c = s_[p_];
      Token t{K_OP, c, uint32_t(start), 0};
      if (isIdentStart(c)) {
        while (p_ < n_ && isIdent(s_[p_])) p_++;
        t.kind = K_NAME;
        t.code = KW_NONE;
        size_t len = p_ - start;
        for (const auto &k : kKeywords) {
          if (strlen(k.word) == len && memcmp(k.word, s_ + start, len) == 0) {
            t.kind = K_KEYWORD;
            t.code = k.kw;
            break;
          }
        }
      } else if (isDigit(c) || (c == '.' && p_ + 1 < n_ && isDigit(s_[p_ + 1]))) {
        number();
        t.kind = K_NUMBER;
      } else if (c == '"' || c == '\'') {
        if (!quoted(c)) return false;
        t.kind = K_STRING;
      } else if (c == '[' && longBracketLevel() >= 0) {
        if (!longBracket()) return false;
        t.kind = K_STRING;
      } else {
        p_++;
        unsigned char d = p_ < n_ ? s_[p_] : 0;
        if (c == '.' && d == '.') {
          p_++;
          if (p_ < n_ && s_[p_] == '.') {
            p_++;
            t.code = OP_DOTS;
          } else {
            t.code = OP_CONCAT;
          }
        } else if (c == '=' && d == '=') {
          p_++, t.code = OP_EQ;
        } else if (c == '~' && d == '=') {
          p_++, t.code = OP_NE;
        } else if (c == '<' && d == '=') {
          p_++, t.code = OP_LE;
        } else if (c == '>' && d == '=') {
          p_++, t.code = OP_GE;
        } else if (c == ':' && d == ':') {
          p_++, t.code = OP_DBCOLON;
        }
      }
      t.end = uint32_t(p_);
      out.push_back(t);
      if (out.size() > kMaxTokens) return false;  // a pathological chunk: bounded working memory
    }
  }

 private:
  bool skipSpace() {
    while (p_ < n_) {
      unsigned char c = s_[p_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
        p_++;
      } else if (c == '-' && p_ + 1 < n_ && s_[p_ + 1] == '-') {
        p_ += 2;
        if (p_ < n_ && s_[p_] == '[' && longBracketLevel() >= 0) {
          if (!longBracket()) return false;
        } else {
          while (p_ < n_ && s_[p_] != '\n' && s_[p_] != '\r') p_++;
        }
      } else {
        break;
      }
    }
    return true;
  }

  // at '[': the level of a long bracket opening here ("[==["), or -1
  int longBracketLevel() const {
    size_t q = p_ + 1;
    int level = 0;
    while (q < n_ && s_[q] == '=') q++, level++;
    return (q < n_ && s_[q] == '[') ? level : -1;
  }

  bool longBracket() {
    int level = longBracketLevel();
    p_ += size_t(level) + 2;
    while (p_ < n_) {
      if (s_[p_] == ']') {
        size_t q = p_ + 1;
        int l = 0;
        while (q < n_ && s_[q] == '=') q++, l++;
        if (l == level && q < n_ && s_[q] == ']') {
          p_ = q + 1;
          return true;
        }
        p_ = q;
      } else {
        p_++;
      }
    }
    return false;
  }

  bool quoted(unsigned char quote) {
    p_++;
    while (p_ < n_) {
      unsigned char c = s_[p_];
      if (c == quote) {
        p_++;
        return true;
      }
      if (c == '\n' || c == '\r') return false;
      if (c == '\\') p_++;  // whatever follows (a quote, a line break, z...) belongs to the string
      p_++;
    }
    return false;
  }

  void number() {
    // the same characters LuaJIT's lexer takes into a number token
    unsigned char xp = 'e';
    unsigned char c = s_[p_];
    if (c == '0' && p_ + 1 < n_ && (s_[p_ + 1] | 0x20) == 'x') xp = 'p';
    while (p_ < n_) {
      unsigned char d = s_[p_];
      if (isIdent(d) || d == '.' || ((d == '-' || d == '+') && (c | 0x20) == xp)) {
        c = d;
        p_++;
      } else {
        break;
      }
    }
  }

  const unsigned char *s_;
  size_t n_;
  size_t p_;
};

class OperandFinder {
 public:
  explicit OperandFinder(const std::vector<Token> &t) : t_(t) {}

  // index after the unary expression starting at i (the operand of a `#` there), -1 if not valid Lua
  long unaryOperand(long i) { return subexpr(i, 8); }

 private:
  bool isOp(long i, uint16_t code) const { return t_[i].kind == K_OP && t_[i].code == code; }
  bool isKw(long i, uint16_t kw) const { return t_[i].kind == K_KEYWORD && t_[i].code == kw; }

  // left and right priorities of a binary operator at i (Lua 5.1's table); 0 if none
  void binaryPriority(long i, int &left, int &right) const {
    left = right = 0;
    const Token &k = t_[i];
    if (k.kind == K_KEYWORD) {
      if (k.code == KW_AND) left = right = 2;
      if (k.code == KW_OR) left = right = 1;
      return;
    }
    if (k.kind != K_OP) return;
    switch (k.code) {
      case '+': case '-': left = right = 6; break;
      case '*': case '/': case '%': left = right = 7; break;
      case '^': left = 10, right = 9; break;
      case OP_CONCAT: left = 5, right = 4; break;
      case OP_EQ: case OP_NE: case '<': case OP_LE: case '>': case OP_GE: left = right = 3; break;
      default: break;
    }
  }

  long subexpr(long i, int limit) {
    if (++depth_ > 400) return -1;
    if (isKw(i, KW_NOT) || isOp(i, '-') || isOp(i, '#'))
      i = subexpr(i + 1, 8);
    else
      i = simpleexp(i);
    while (i >= 0) {
      int left, right;
      binaryPriority(i, left, right);
      if (left <= limit) break;
      i = subexpr(i + 1, right);
    }
    depth_--;
    return i;
  }

  long simpleexp(long i) {
    const Token &k = t_[i];
    if (k.kind == K_NUMBER || k.kind == K_STRING) return i + 1;
    if (k.kind == K_KEYWORD) {
      if (k.code == KW_NIL || k.code == KW_TRUE || k.code == KW_FALSE) return i + 1;
      if (k.code == KW_FUNCTION) return functionBody(i + 1);
      return -1;
    }
    if (isOp(i, OP_DOTS)) return i + 1;
    if (isOp(i, '{')) return balanced(i);
    return primaryexp(i);
  }

  long primaryexp(long i) {
    if (t_[i].kind == K_NAME)
      i++;
    else if (isOp(i, '('))
      i = balanced(i);
    else
      return -1;
    while (i >= 0) {
      if (isOp(i, '.')) {
        if (t_[i + 1].kind != K_NAME) return -1;
        i += 2;
      } else if (isOp(i, '[') || isOp(i, '(') || isOp(i, '{')) {
        i = balanced(i);
      } else if (t_[i].kind == K_STRING) {
        i++;
      } else if (isOp(i, ':')) {
        if (t_[i + 1].kind != K_NAME) return -1;
        i += 2;
        if (t_[i].kind == K_STRING)
          i++;
        else if (isOp(i, '(') || isOp(i, '{'))
          i = balanced(i);
        else
          return -1;
      } else {
        break;
      }
    }
    return i;
  }

  // from an opening bracket to after its match
  long balanced(long i) {
    std::vector<uint16_t> open;
    for (; t_[i].kind != K_EOF; i++) {
      if (t_[i].kind != K_OP) continue;
      uint16_t c = t_[i].code;
      if (c == '(' || c == '[' || c == '{') {
        open.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
      } else if (c == ')' || c == ']' || c == '}') {
        if (open.empty() || open.back() != c) return -1;
        open.pop_back();
        if (open.empty()) return i + 1;
      }
    }
    return -1;
  }

  // from the parameter list of a function expression to after its `end`
  long functionBody(long i) {
    if (!isOp(i, '(')) return -1;
    i = balanced(i);
    if (i < 0) return -1;
    int depth = 1;
    for (; t_[i].kind != K_EOF; i++) {
      if (t_[i].kind != K_KEYWORD) continue;
      uint16_t k = t_[i].code;
      if (k == KW_FUNCTION || k == KW_DO || k == KW_IF) depth++;
      if (k == KW_END && --depth == 0) return i + 1;
    }
    return -1;
  }

  const std::vector<Token> &t_;
  int depth_ = 0;
};

const char kPrefix[] = "local __mona_len=(\"\").__mona_len;";
const char kCall[] = "(__mona_len(";  // parenthesised: `return #t` must not become a tail call

}  // namespace

bool rewriteLength(const char *src, size_t len, std::string &out) {
  if (len > 0xffffffffu || memchr(src, '#', len) == nullptr) return false;
  // where the chunk's code starts: after a UTF-8 BOM and a "#..." first line, as LuaJIT's lexer
  size_t from = 0;
  if (len >= 3 && memcmp(src, "\xef\xbb\xbf", 3) == 0) from = 3;
  if (from < len && src[from] == '#') {
    while (from < len && src[from] != '\n' && src[from] != '\r') from++;
    if (from < len) from += (src[from] == '\r' && from + 1 < len && src[from + 1] == '\n') ? 2 : 1;
  }
  if (from < len && src[from] == '\x1b') return false;  // bytecode
  std::vector<Token> tokens;
  tokens.reserve(len / 4 + 16);
  if (!Lexer(src, len, from).run(tokens)) return false;
  // each `#` and where its operand ends
  std::vector<uint32_t> opens, closes;
  OperandFinder finder(tokens);
  for (long i = 0; tokens[i].kind != K_EOF; i++) {
    if (tokens[i].kind != K_OP || tokens[i].code != '#') continue;
    long end = finder.unaryOperand(i + 1);
    if (end <= i + 1) return false;
    opens.push_back(tokens[i].start);
    closes.push_back(tokens[end - 1].end);
  }
  if (opens.empty()) return false;
  std::sort(closes.begin(), closes.end());
  out.clear();
  out.reserve(len + sizeof kPrefix + opens.size() * sizeof kCall);
  out.append(src, from);
  out.append(kPrefix);
  size_t o = 0, c = 0;
  for (size_t p = from; p <= len; p++) {
    while (c < closes.size() && closes[c] == p) out.append("))"), c++;
    if (p == len) break;
    if (o < opens.size() && opens[o] == p) {
      out.append(kCall);
      o++;
      continue;  // the '#' itself is replaced
    }
    out.push_back(src[p]);
  }
  return true;
}
