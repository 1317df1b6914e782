{
  "targets": [
    {
      "target_name": "cyclener_engine",
      "sources": ["src/table.cc", "src/ops.cc", "src/optim.cc", "src/addon.cc", "src/kernels.cc", "src/dist.cc", "src/crash.cc", "src/profiler.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node libtorch-config.js --include)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!@(node libtorch-config.js --defines)"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd", "-fexceptions", "-frtti",
                    "-Wno-unused-parameter", "-Wno-deprecated-declarations", "-Wno-missing-field-initializers"],
      "libraries": ["<!@(node libtorch-config.js --libs)"]
    }
  ]
}
