/*
 * xvs_steer.c: classic-BPF receive filters on AF_PACKET sockets (contract: SPEC.md, "Receive filters").
 *
 * Steering on the uplink (docs/QUEUES.md, "Steering on the uplink"): every worker has its own rx socket on
 * the uplink, and each socket's filter accepts the destination MACs of the queues its worker owns (the
 * default-queue worker's filter rejects exactly those of the other workers). The program is built in
 * TypeScript (src/vmq/steer-bpf.ts); this only hands it to the kernel.
 *
 * setRxFilter(fd, program): program is a Uint32Array of 2 words per instruction, word 0 = code | jt << 16 |
 * jf << 24, word 1 = k (struct sock_filter). An empty program detaches the filter (the socket accepts
 * everything again). SO_ATTACH_FILTER replaces a filter atomically: a frame is checked by the old program
 * or by the new one, never by none. Works on any socket fd (the fd of an openPort handle: portFd).
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/filter.h>

static napi_value steer_throw(napi_env env, int err, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "setRxFilter: %s: %s", what, strerror(err));
  napi_value code, text, e;
  napi_create_string_utf8(env, err == EINVAL ? "EINVAL" : err == EBADF ? "EBADF" : err == ENOTSOCK ? "ENOTSOCK"
                          : err == ENOMEM ? "ENOMEM" : "EIO", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &e);
  napi_throw(env, e);
  return NULL;
}

static napi_value SetRxFilter(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "setRxFilter(fd, program): two arguments");
    return NULL;
  }
  int32_t fd;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "setRxFilter: fd must be a non-negative integer");
    return NULL;
  }
  napi_typedarray_type type;
  size_t words;
  void *data;
  bool is_ta = false;
  napi_is_typedarray(env, argv[1], &is_ta);
  if (!is_ta || napi_get_typedarray_info(env, argv[1], &type, &words, &data, NULL, NULL) != napi_ok || type != napi_uint32_array) {
    napi_throw_type_error(env, NULL, "setRxFilter: program must be a Uint32Array");
    return NULL;
  }
  if (words % 2 != 0 || words / 2 > BPF_MAXINSNS) {
    napi_throw_range_error(env, NULL, "setRxFilter: program must hold 2 words per instruction, at most 4096 instructions");
    return NULL;
  }
  if (words == 0) {
    int dummy = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof dummy) < 0 && errno != ENOENT) return steer_throw(env, errno, "SO_DETACH_FILTER");
    napi_value u;
    napi_get_undefined(env, &u);
    return u;
  }
  const uint32_t *w = data;
  unsigned short n = (unsigned short)(words / 2);
  struct sock_filter *insns = malloc(sizeof *insns * n);
  if (!insns) return steer_throw(env, ENOMEM, "program");
  for (unsigned short i = 0; i < n; i++) {
    insns[i].code = (uint16_t)(w[2 * i] & 0xffff);
    insns[i].jt = (uint8_t)((w[2 * i] >> 16) & 0xff);
    insns[i].jf = (uint8_t)((w[2 * i] >> 24) & 0xff);
    insns[i].k = w[2 * i + 1];
  }
  struct sock_fprog prog = { .len = n, .filter = insns };
  int rc = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
  int err = errno;
  free(insns);
  if (rc < 0) return steer_throw(env, err, "SO_ATTACH_FILTER");
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* called from xvs_native.c's module init: adds setRxFilter to the exports */
int xvs_steer_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "setRxFilter", NULL, SetRxFilter, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  return napi_define_properties(env, exports, 1, props) == napi_ok ? 0 : -1;
}
