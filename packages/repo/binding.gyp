{
  "targets": [
    {
      "target_name": "virtvault_syncfs",
      "sources": ["native/syncfs.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
