{
  "targets": [
    {
      "target_name": "xvs_native",
      "sources": ["src/ports/native/xvs_native.c", "src/ports/native/xvs_pcap.c", "src/service/sd_notify.c", "src/ports/native/xvs_steer.c"],
      "libraries": ["-lpcap"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
      "cflags!": ["-O3"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
