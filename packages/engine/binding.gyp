{
  "targets": [
    {
      "target_name": "virtvault_image_lock",
      "sources": ["native/image-lock.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
