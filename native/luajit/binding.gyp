{
  "variables": { "sanitize%": 0 },
  "targets": [
    {
      "target_name": "monats_luajit",
      "sources": ["src/addon.cc", "src/memory.cc", "src/guard.cc", "src/strlib.cc", "src/tablib.cc", "src/lenfix.cc"],
      "include_dirs": ["<!@(node ../../scripts/luajit-flags.js include)"],
      "libraries": ["<!@(node ../../scripts/luajit-flags.js libs)"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-funwind-tables", "-O2", "-Wall", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["sanitize==1", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1", "-g"],
          "ldflags": ["-fsanitize=address,undefined"],
          "defines": ["MONATS_SANITIZE"]
        }]
      ]
    }
  ]
}
