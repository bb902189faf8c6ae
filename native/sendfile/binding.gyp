{
  "targets": [
    {
      "target_name": "wharf_sendfile",
      "sources": ["src/sendfile.cc"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
