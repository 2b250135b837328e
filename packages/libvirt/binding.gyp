{
  "targets": [
    {
      "target_name": "virtvault_libvirt",
      "sources": [
        "native/addon.cc",
        "native/pool.cc",
        "native/lv-error.cc",
        "native/events.cc",
        "native/connection.cc",
        "native/domain.cc",
        "native/checkpoint.cc",
        "native/convert.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lvirt", "-lvirt-qemu"]
    }
  ]
}
