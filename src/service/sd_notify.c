/*
 * sd_notify for the daemon under systemd (Type=notify): one datagram with the state lines to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace), as
 * sd_notify(3) sends it. Node has no unix-datagram sockets, so this lives in the native addon; it runs
 * a few times in the daemon's life (ready, reloading, stopping), never on the data path.
 *
 *   notify(state: string): boolean — false when $NOTIFY_SOCKET is unset (not under systemd);
 *   throws an Error naming the errno when the socket is set but the send fails.
 */
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static napi_value Notify(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1], r;
  char state[4096]; size_t len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], state, sizeof state, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "notify(state): state must be a string");
    return NULL;
  }
  if (len >= sizeof state - 1) { napi_throw_range_error(env, NULL, "notify(state): state longer than 4094 bytes"); return NULL; }
  const char *name = getenv("NOTIFY_SOCKET");
  if (!name || !*name) { napi_get_boolean(env, 0, &r); return r; }
  struct sockaddr_un sa; memset(&sa, 0, sizeof sa); sa.sun_family = AF_UNIX;
  size_t nl = strlen(name);
  if ((name[0] != '/' && name[0] != '@') || nl >= sizeof sa.sun_path) {
    napi_throw_error(env, "EINVAL", "notify: NOTIFY_SOCKET is neither a path nor an @abstract name");
    return NULL;
  }
  memcpy(sa.sun_path, name, nl);
  if (name[0] == '@') sa.sun_path[0] = 0;  /* abstract namespace: leading NUL, no terminator */
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + nl + (name[0] == '/' ? 1 : 0));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ssize_t n = fd < 0 ? -1 : sendto(fd, state, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
  int err = errno;
  if (fd >= 0) close(fd);
  if (n < 0) {
    char msg[160]; snprintf(msg, sizeof msg, "notify: sendto(NOTIFY_SOCKET): %s", strerror(err));
    napi_throw_error(env, err == ENOENT ? "ENOENT" : err == ECONNREFUSED ? "ECONNREFUSED" : "EIO", msg);
    return NULL;
  }
  napi_get_boolean(env, 1, &r);
  return r;
}

int xvs_notify_register(napi_env env, napi_value exports) {
  napi_property_descriptor p = { "notify", NULL, Notify, NULL, NULL, NULL, napi_enumerable, NULL };
  return napi_define_properties(env, exports, 1, &p) == napi_ok ? 0 : -1;
}
