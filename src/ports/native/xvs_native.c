/*
 * xvs_native.c: the native edge of xvs (contract: SPEC.md in this folder).
 *
 * The only code in xvs that touches file descriptors and ioctls:
 *   - AF_PACKET SOCK_RAW ports: TPACKET_V2 mmap rx ring, optional PACKET_VNET_HDR (offload metadata
 *     kept end to end), PACKET_IGNORE_OUTGOING, PACKET_QDISC_BYPASS, sendmmsg tx with iovec pairs;
 *   - TAP ports backed by a queue fd that xvs holds: readv/writev with the same batch API;
 *   - persistent TAP create/destroy, poll, sched_setaffinity, gettid;
 *   - the tunnel TAP of an AF_PACKET port: VXLAN GSO frames leave through a TAP queue with the UDP-tunnel
 *     virtio header (Linux 6.17+), whose ingress tc redirects them to the port's netdev (SPEC.md).
 *
 * Every data-path call works on a batch of frame ids in a pool owned by TypeScript (a Uint8Array over a
 * SharedArrayBuffer). Nothing is allocated per frame: scratch arrays live in the per-instance state.
 *
 * Context-aware (NAPI_MODULE_INIT + napi_set_instance_data): each Node environment (main thread and every
 * worker_thread) has its own handle table. A handle is only valid in the thread that opened it; when a
 * worker exits, its instance finalizer closes the fds and unmaps the rings it still holds.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>

#define MAX_HANDLES 256   /* ports per Node environment (thread) */
#define TX_CHUNK 64       /* frames per sendmmsg() call */
#define MAX_POLL 1024     /* fds per pollIn() call */
#define VNET_HDR_LEN 10   /* sizeof(struct virtio_net_hdr) */
/* zero-copy receive (SPEC.md "Zero-copy forwarding"): frames at least this long keep their tail in the ring */
#define ZC_MIN_LEN 1024
#define ZC_STRIDE 4       /* words per slot in the zc array: tail bytes, handle index, ring offset, generation */
#define SOCK_BUF (4 << 20)
/* UDP-tunnel GSO through a TAP (Linux 6.17+; not yet in every distribution's uapi headers) */
#define TNL_TUN_F_UDP_TUNNEL_GSO 0x080
#define TNL_GSO_UDP_TUNNEL_IPV4 0x20
#define TNL_HDR_LEN 24    /* sizeof(struct virtio_net_hdr_v1_hash_tunnel) */
#define VXLAN_PORT 4789

enum { K_FREE = 0, K_PACKET = 1, K_TAP = 2 };

typedef struct {
  int kind;               /* K_FREE, K_PACKET or K_TAP */
  int fd;
  int vnet;               /* frames carry a virtio_net_hdr on this fd */
  uint8_t *ring;          /* AF_PACKET rx ring (NULL for tx-only ports and TAPs) */
  size_t ring_len;
  uint32_t frame_nr, frame_size, cur;
  char name[IFNAMSIZ];
  int tnl_fd;             /* queue fd of the tunnel TAP (attachTunnelTx), -1 without */
  /* zero-copy receive: ring frames handed out and not yet returned to the kernel, and the slots that
   * reference them (both at most frame_nr; allocated with the ring) */
  uint32_t gen;           /* nonzero, unique per open: a slot's reference names (handle index, gen) */
  uint32_t *held, held_n; /* ring frame indices still TP_STATUS_USER */
  uint32_t *zc_ids, zc_n; /* slot ids given a ring reference since the last release */
  /* statistics since open */
  uint64_t kpackets, kdrops, truncated, send_errors, send_busy, tap_rx, tnl_sent;
  uint64_t zc_frames, zc_materialized, zc_stale;
} handle_t;

typedef struct {
  handle_t h[MAX_HANDLES];
  struct mmsghdr msgs[TX_CHUNK];     /* sendmmsg scratch, reused by every call */
  struct iovec iov[TX_CHUNK * 3];     /* [vnet hdr][slot bytes][ring tail] per message */
  struct pollfd pfd[MAX_POLL];
  uint8_t tnl_hdr[TNL_HDR_LEN];      /* tunnel TAP virtio header scratch */
} inst_t;

static int tun_attach(const char *name, int flags, int oflags);

/* ---------- error helpers ---------------------------------------------------------------------- */

/* Throw an Error "<what>: <strerror(err)>"; error.code is the errno name ("EBUSY"). Returns NULL. */
static napi_value throw_errno(napi_env env, int err, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (k < 0) k = 0;
  if ((size_t)k < sizeof msg) snprintf(msg + k, sizeof msg - k, ": %s", strerror(err));
  const char *code = strerrorname_np(err);
  napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return NULL;
}

/* ---------- argument helpers (each returns 0 after throwing) ----------------------------------- */

#define GET_ARGS(N)                                                                    \
  size_t argc = (N);                                                                   \
  napi_value argv[(N) > 0 ? (N) : 1];                                                  \
  inst_t *I = NULL;                                                                    \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;    \
  if (napi_get_instance_data(env, (void **)&I) != napi_ok || !I) return NULL;          \
  if (argc < (N)) { napi_throw_type_error(env, NULL, "too few arguments"); return NULL; }

/* GET_ARGS with room for optional arguments after the N required ones (argc: how many were passed, <= CAP) */
#define GET_ARGS_OPT(N, CAP)                                                           \
  size_t argc = (CAP);                                                                 \
  napi_value argv[(CAP)];                                                              \
  inst_t *I = NULL;                                                                    \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;    \
  if (napi_get_instance_data(env, (void **)&I) != napi_ok || !I) return NULL;          \
  if (argc < (N)) { napi_throw_type_error(env, NULL, "too few arguments"); return NULL; } \
  if (argc > (CAP)) argc = (CAP);

static int arg_u32(napi_env env, napi_value v, uint32_t *out, const char *what) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    char m[96]; snprintf(m, sizeof m, "%s must be a number", what);
    napi_throw_type_error(env, NULL, m); return 0;
  }
  return 1;
}

static int arg_i32(napi_env env, napi_value v, int32_t *out, const char *what) {
  if (napi_get_value_int32(env, v, out) != napi_ok) {
    char m[96]; snprintf(m, sizeof m, "%s must be a number", what);
    napi_throw_type_error(env, NULL, m); return 0;
  }
  return 1;
}

static int arg_bool(napi_env env, napi_value obj, const char *key, int *out) {
  napi_value v; bool b = false;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return 0;
  napi_get_value_bool(env, v, &b); /* undefined -> false */
  *out = b; return 1;
}

/* A typed array of the expected type (a view: Node 20 rejects SharedArrayBuffer in
 * napi_get_arraybuffer_info, so pools are always passed as Uint8Array views). */
static int arg_ta(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len,
                  const char *what) {
  bool is = false; napi_typedarray_type t; napi_value ab; size_t off;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) != napi_ok || t != want) {
    char m[96]; snprintf(m, sizeof m, "%s has the wrong type", what);
    napi_throw_type_error(env, NULL, m); return 0;
  }
  return 1;
}

static int arg_str(napi_env env, napi_value v, char *buf, size_t cap, const char *what) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, buf, cap, &n) != napi_ok) {
    char m[96]; snprintf(m, sizeof m, "%s must be a string", what);
    napi_throw_type_error(env, NULL, m); return 0;
  }
  if (n == 0 || n >= IFNAMSIZ) {
    char m[96]; snprintf(m, sizeof m, "%s must be 1..%d characters", what, IFNAMSIZ - 1);
    throw_range(env, m); return 0;
  }
  return 1;
}

static handle_t *arg_handle(napi_env env, inst_t *I, napi_value v) {
  uint32_t h;
  if (!arg_u32(env, v, &h, "handle")) return NULL;
  if (h >= MAX_HANDLES || I->h[h].kind == K_FREE) { throw_range(env, "unknown port handle"); return NULL; }
  return &I->h[h];
}

static napi_value num(napi_env env, double d) { napi_value r; napi_create_double(env, d, &r); return r; }
static napi_value undef(napi_env env) { napi_value r; napi_get_undefined(env, &r); return r; }

static int alloc_handle(inst_t *I) {
  for (int i = 0; i < MAX_HANDLES; i++) if (I->h[i].kind == K_FREE) return i;
  return -1;
}

/* a zeroed handle: no fds */
static void clear_handle(handle_t *hd) {
  memset(hd, 0, sizeof *hd);
  hd->fd = -1; hd->tnl_fd = -1;
}

/* Return every held ring frame to the kernel (no materializing: the caller did it, or the slots die). */
static void return_held(handle_t *hd) {
  for (uint32_t k = 0; k < hd->held_n; k++) {
    struct tpacket2_hdr *tp = (struct tpacket2_hdr *)(hd->ring + (size_t)hd->held[k] * hd->frame_size);
    __atomic_store_n(&tp->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  }
  hd->held_n = 0; hd->zc_n = 0;
}

static void release_handle(handle_t *hd) {
  if (hd->ring) { return_held(hd); munmap(hd->ring, hd->ring_len); }
  free(hd->held); free(hd->zc_ids);
  if (hd->fd >= 0) close(hd->fd);
  if (hd->tnl_fd >= 0) close(hd->tnl_fd);
  clear_handle(hd);
}

/* ---------- AF_PACKET ports -------------------------------------------------------------------- */

/* openPort(ifname, {rx, ringFrames, frameSize, vnetHdr}) -> handle */
static napi_value OpenPort(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  char name[IFNAMSIZ + 8];
  int rx, vnet; uint32_t ring_frames = 0, frame_size = 0; napi_value v;
  if (!arg_str(env, argv[0], name, sizeof name, "ifname")) return NULL;
  if (!arg_bool(env, argv[1], "rx", &rx) || !arg_bool(env, argv[1], "vnetHdr", &vnet)) return NULL;
  if (rx) {
    if (napi_get_named_property(env, argv[1], "ringFrames", &v) != napi_ok ||
        !arg_u32(env, v, &ring_frames, "ringFrames")) return NULL;
    if (napi_get_named_property(env, argv[1], "frameSize", &v) != napi_ok ||
        !arg_u32(env, v, &frame_size, "frameSize")) return NULL;
    if (ring_frames == 0 || frame_size < 128) return throw_range(env, "ringFrames must be > 0 and frameSize >= 128");
  }
  int idx = alloc_handle(I);
  if (idx < 0) return throw_errno(env, EMFILE, "openPort(%s): handle table full", name);
  unsigned ifindex = if_nametoindex(name);
  if (!ifindex) return throw_errno(env, errno, "openPort(%s): if_nametoindex", name);

  /* Protocol 0: no frames are queued before bind() names the interface. */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "openPort(%s): socket(AF_PACKET)", name);
  handle_t *hd = &I->h[idx];
  clear_handle(hd);
  hd->fd = fd; hd->kind = K_PACKET; hd->vnet = vnet;
  memcpy(hd->name, name, strlen(name) + 1); /* length checked < IFNAMSIZ */
  const char *step; int one = 1, ver = TPACKET_V2, buf = SOCK_BUF;

  /* Order matters: PACKET_VERSION and PACKET_VNET_HDR must precede PACKET_RX_RING (EBUSY after). */
  step = "setsockopt(PACKET_VERSION)";
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof ver) < 0) goto fail;
  step = "setsockopt(PACKET_VNET_HDR)";
  if (vnet && setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) goto fail;
  /* A port must not see what the switch itself sends on it. */
  step = "setsockopt(PACKET_IGNORE_OUTGOING)";
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) goto fail;
  step = "setsockopt(PACKET_QDISC_BYPASS)";
  if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0) goto fail;
  /* Raise buffers past rmem_max/wmem_max (we are root); fall back to the capped variant. */
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);

  if (rx) {
    /* One frame per block, block size rounded up to the page size (TPACKET_ALIGNMENT holds too). */
    long pg = sysconf(_SC_PAGESIZE);
    uint32_t fsz = (uint32_t)((frame_size + pg - 1) / pg * pg);
    struct tpacket_req req = { .tp_block_size = fsz, .tp_block_nr = ring_frames,
                               .tp_frame_size = fsz, .tp_frame_nr = ring_frames };
    step = "setsockopt(PACKET_RX_RING)";
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) goto fail;
    hd->ring_len = (size_t)fsz * ring_frames;
    step = "mmap(rx ring)";
    void *m = mmap(NULL, hd->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
    if (m == MAP_FAILED) m = mmap(NULL, hd->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) { hd->ring_len = 0; goto fail; }
    hd->ring = m; hd->frame_nr = ring_frames; hd->frame_size = fsz; hd->cur = 0;
    step = "malloc(zero-copy lists)";
    hd->held = malloc(sizeof(uint32_t) * ring_frames);
    hd->zc_ids = malloc(sizeof(uint32_t) * ring_frames);
    if (!hd->held || !hd->zc_ids) { errno = ENOMEM; goto fail; }
    static uint32_t next_gen = 0;   /* per process: a handle moved between threads keeps it */
    hd->gen = __atomic_add_fetch(&next_gen, 1, __ATOMIC_RELAXED);
    if (hd->gen == 0) hd->gen = __atomic_add_fetch(&next_gen, 1, __ATOMIC_RELAXED);
  }

  /* Bind to the interface. rx ports hook ETH_P_ALL; a tx-only port binds with protocol 0 so that
   * the kernel never queues received frames on a socket nobody reads. */
  struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = (int)ifindex,
                             .sll_protocol = rx ? htons(ETH_P_ALL) : 0 };
  step = "bind";
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) goto fail;
  step = "fcntl(O_NONBLOCK)";
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) goto fail;
  return num(env, idx);

fail: {
    int e = errno;
    release_handle(hd);
    return throw_errno(env, e, "openPort(%s): %s", name, step);
  }
}

static napi_value ClosePort(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  handle_t *hd = arg_handle(env, I, argv[0]);
  if (!hd) return NULL;
  release_handle(hd);
  return undef(env);
}

static napi_value PortFd(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  handle_t *hd = arg_handle(env, I, argv[0]);
  return hd ? num(env, hd->fd) : NULL;
}

/* ---------- zero-copy references (SPEC.md "Zero-copy forwarding") -------------------------------- */

/* The zc array: ZC_STRIDE words per slot id: [0] tail = how many of the frame's LAST bytes are still in
 * a ring frame (0: the whole frame is in the slot), [1] handle index, [2] byte offset of the tail in that
 * handle's ring, [3] the handle's generation. Only [0] is meaningful when it is 0. */

/* Where the headers a stage may parse end in frame f (len bytes): through the L4 header (TCP with its
 * options, UDP, ICMP: 8), and for VXLAN (UDP 4789) and NVGRE/GRE-TEB the inner frame's too. 0 for a
 * layout this does not know (IPv6 extension headers, other ethertypes, cut headers): such a frame is
 * copied whole, so a header parser never meets the ring tail. */
static uint32_t zc_header_end(const uint8_t *f, uint32_t len, int inner) {
  if (len < 14) return 0;
  uint32_t o = 12;
  uint16_t et = (uint16_t)((f[12] << 8) | f[13]);
  while ((et == 0x8100 || et == 0x88a8) && o + 6 <= len) { o += 4; et = (uint16_t)((f[o] << 8) | f[o + 1]); }
  o += 2;
  uint32_t l4; uint8_t proto;
  if (et == 0x0800) {
    if (o + 20 > len) return 0;
    uint32_t ihl = (uint32_t)(f[o] & 15) * 4;
    if (ihl < 20) return 0;
    proto = f[o + 9]; l4 = o + ihl;
    if (((f[o + 6] & 0x1f) | f[o + 7]) != 0) return l4;   /* not a first fragment: no L4 header */
  } else if (et == 0x86dd) {
    if (o + 40 > len) return 0;
    proto = f[o + 6]; l4 = o + 40;
    if (proto != 6 && proto != 17 && proto != 58) return 0;
  } else {
    return 0;
  }
  if (proto == 6) return l4 + 20 > len ? 0 : l4 + (uint32_t)(f[l4 + 12] >> 4) * 4;
  if (proto == 17) {
    if (l4 + 8 > len) return 0;
    if (!inner && ((f[l4 + 2] << 8) | f[l4 + 3]) == 4789) {
      uint32_t in = l4 + 16, e = len > in ? zc_header_end(f + in, len - in, 1) : 0;
      return e ? in + e : 0;
    }
    return l4 + 8;
  }
  if (proto == 47 && !inner) {   /* GRE: flags C/K/S add 4 bytes each; 0x6558 carries Ethernet (NVGRE) */
    if (l4 + 4 > len) return 0;
    uint32_t in = l4 + 4 + ((f[l4] & 0x80) ? 4 : 0) + ((f[l4] & 0x20) ? 4 : 0) + ((f[l4] & 0x10) ? 4 : 0);
    if (((f[l4 + 2] << 8) | f[l4 + 3]) != 0x6558) return in;
    uint32_t e = len > in ? zc_header_end(f + in, len - in, 1) : 0;
    return e ? in + e : 0;
  }
  return l4 + 8;
}

/* The ring bytes slot s references, or NULL when the reference is stale (port closed, moved or reopened). */
static const uint8_t *zc_tail(inst_t *I, const uint32_t *zc, uint32_t s) {
  const uint32_t *r = zc + (size_t)s * ZC_STRIDE;
  if (r[1] >= MAX_HANDLES) return NULL;
  handle_t *hd = &I->h[r[1]];
  if (hd->kind != K_PACKET || !hd->ring || hd->gen != r[3] || (uint64_t)r[2] + r[0] > hd->ring_len) return NULL;
  return hd->ring + r[2];
}

/* Copy slot s's ring tail into the slot, behind its resident bytes. 0 on success, -1 when the reference
 * is stale or the frame no longer fits its slot (tail cleared either way: the slot never reads the ring
 * again). */
static int zc_materialize(inst_t *I, uint8_t *pool, uint32_t slot_size, const uint32_t *st, const uint32_t *ln,
                          uint32_t *zc, uint32_t s) {
  uint32_t *r = zc + (size_t)s * ZC_STRIDE;
  uint32_t tail = r[0];
  if (!tail) return 0;
  const uint8_t *src = zc_tail(I, zc, s);
  r[0] = 0;
  uint64_t end = (uint64_t)st[s] + ln[s];
  if (!src || ln[s] < tail || end > slot_size) return -1;
  memcpy(pool + (size_t)s * slot_size + end - tail, src, tail);
  return 0;
}

/* End of a batch on rx handle hd: every slot still referencing one of its ring frames gets its tail copied
 * (a frame some stage keeps past the batch stays whole), then the ring frames go back to the kernel. */
static void zc_release(inst_t *I, handle_t *hd, uint8_t *pool, uint32_t slot_size, uint64_t slots,
                       const uint32_t *st, const uint32_t *ln, uint32_t *zc) {
  if (zc) {
    uint32_t hidx = (uint32_t)(hd - I->h);
    for (uint32_t k = 0; k < hd->zc_n; k++) {
      uint32_t s = hd->zc_ids[k];
      if (s >= slots) continue;
      uint32_t *r = zc + (size_t)s * ZC_STRIDE;
      if (r[0] == 0 || r[1] != hidx || r[3] != hd->gen) continue;   /* freed, or reused since */
      if (zc_materialize(I, pool, slot_size, st, ln, zc, s) == 0) hd->zc_materialized++;
      else hd->zc_stale++;
    }
  }
  return_held(hd);
}

/* The optional zc array argument: a Uint32Array of at least ZC_STRIDE * slots words, or NULL (absent /
 * undefined). Returns 0 after throwing. */
static int arg_zc(napi_env env, size_t argc, napi_value *argv, size_t at, uint64_t slots, uint32_t **zc) {
  *zc = NULL;
  if (argc <= at) return 1;
  napi_valuetype t;
  if (napi_typeof(env, argv[at], &t) != napi_ok) return 0;
  if (t == napi_undefined || t == napi_null) return 1;
  size_t n;
  if (!arg_ta(env, argv[at], napi_uint32_array, (void **)zc, &n, "zc")) return 0;
  if (n < slots * ZC_STRIDE) { throw_range(env, "zc.length < 4 * slots"); return 0; }
  return 1;
}

/* how many slot ids a call may use: each must index the pool (slotSize bytes each), start and len */
static uint64_t pool_slots(size_t pool_len, uint32_t slot_size, size_t st_len, size_t ln_len) {
  uint64_t slots = pool_len / slot_size;
  if (st_len < slots) slots = st_len;
  if (ln_len < slots) slots = ln_len;
  return slots;
}

/* recvDone(h, pool, slotSize, start, len, zc): the end of the batch recvBatch gave (zc_release) */
static napi_value RecvDone(napi_env env, napi_callback_info info) {
  GET_ARGS_OPT(5, 6);
  handle_t *hd = arg_handle(env, I, argv[0]);
  uint8_t *pool; uint32_t *st, *ln, *zc; size_t pool_len, st_len, ln_len; uint32_t slot_size;
  if (!hd || !arg_ta(env, argv[1], napi_uint8_array, (void **)&pool, &pool_len, "pool") ||
      !arg_u32(env, argv[2], &slot_size, "slotSize") ||
      !arg_ta(env, argv[3], napi_uint32_array, (void **)&st, &st_len, "start") ||
      !arg_ta(env, argv[4], napi_uint32_array, (void **)&ln, &ln_len, "len")) return NULL;
  if (slot_size == 0) return throw_range(env, "slotSize must be > 0");
  uint64_t slots = pool_slots(pool_len, slot_size, st_len, ln_len);
  if (!arg_zc(env, argc, argv, 5, slots, &zc)) return NULL;
  if (hd->kind == K_PACKET && hd->ring && hd->held_n) zc_release(I, hd, pool, slot_size, slots, st, ln, zc);
  return undef(env);
}

/* materialize(pool, slotSize, start, len, zc, ids, off, n) -> how many slots got their tail copied.
 * A stale reference (its port is gone) throws RangeError after clearing it: the frame's tail is lost. */
static napi_value Materialize(napi_env env, napi_callback_info info) {
  GET_ARGS(8);
  uint8_t *pool; uint32_t *st, *ln, *zc, *ids; size_t pool_len, st_len, ln_len, ids_len; uint32_t slot_size, off, n;
  if (!arg_ta(env, argv[0], napi_uint8_array, (void **)&pool, &pool_len, "pool") ||
      !arg_u32(env, argv[1], &slot_size, "slotSize") ||
      !arg_ta(env, argv[2], napi_uint32_array, (void **)&st, &st_len, "start") ||
      !arg_ta(env, argv[3], napi_uint32_array, (void **)&ln, &ln_len, "len")) return NULL;
  if (slot_size == 0) return throw_range(env, "slotSize must be > 0");
  uint64_t slots = pool_slots(pool_len, slot_size, st_len, ln_len);
  if (!arg_zc(env, argc, argv, 4, slots, &zc) || !zc ||
      !arg_ta(env, argv[5], napi_uint32_array, (void **)&ids, &ids_len, "ids") ||
      !arg_u32(env, argv[6], &off, "off") || !arg_u32(env, argv[7], &n, "n")) {
    bool pending = false; napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_type_error(env, NULL, "zc must be a Uint32Array");
    return NULL;
  }
  if ((uint64_t)off + n > ids_len) return throw_range(env, "off + n > ids.length");
  uint32_t done = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t s = ids[off + i];
    if (s >= slots || zc[(size_t)s * ZC_STRIDE] == 0) continue;
    if (zc_materialize(I, pool, slot_size, st, ln, zc, s) < 0) return throw_range(env, "materialize: the frame's ring reference is stale");
    done++;
  }
  return num(env, done);
}

/* ---------- recvBatch -------------------------------------------------------------------------- */

/* recvBatch(h, pool, slotSize, headroom, free, freeTop, out, outOff, max, start, len[, zc, hdrCopy]) -> n */
static napi_value RecvBatch(napi_env env, napi_callback_info info) {
  GET_ARGS_OPT(11, 13);
  handle_t *hd = arg_handle(env, I, argv[0]);
  uint8_t *pool; uint32_t *fr, *out, *st, *ln; size_t pool_len, fr_len, out_len, st_len, ln_len;
  uint32_t slot_size, headroom, free_top, out_off, max;
  if (!hd || !arg_ta(env, argv[1], napi_uint8_array, (void **)&pool, &pool_len, "pool") ||
      !arg_u32(env, argv[2], &slot_size, "slotSize") || !arg_u32(env, argv[3], &headroom, "headroom") ||
      !arg_ta(env, argv[4], napi_uint32_array, (void **)&fr, &fr_len, "free") ||
      !arg_u32(env, argv[5], &free_top, "freeTop") ||
      !arg_ta(env, argv[6], napi_uint32_array, (void **)&out, &out_len, "out") ||
      !arg_u32(env, argv[7], &out_off, "outOff") || !arg_u32(env, argv[8], &max, "max") ||
      !arg_ta(env, argv[9], napi_uint32_array, (void **)&st, &st_len, "start") ||
      !arg_ta(env, argv[10], napi_uint32_array, (void **)&ln, &ln_len, "len")) return NULL;
  if (headroom < VNET_HDR_LEN || headroom >= slot_size) return throw_range(env, "need 10 <= headroom < slotSize");
  if (free_top > fr_len) return throw_range(env, "freeTop > free.length");
  if ((uint64_t)out_off + max > out_len) return throw_range(env, "outOff + max > out.length");
  uint64_t slots = pool_slots(pool_len, slot_size, st_len, ln_len);
  if (max > free_top) max = free_top;        /* one free slot per frame */
  const uint32_t room = slot_size - headroom; /* longest frame a slot holds */
  uint32_t n = 0, *zc = NULL, hdr_copy = 0;
  if (!arg_zc(env, argc, argv, 11, slots, &zc)) return NULL;
  if (zc && argc > 12 && !arg_u32(env, argv[12], &hdr_copy, "hdrCopy")) return NULL;
  if (zc && hdr_copy && (hdr_copy < 128 || hdr_copy >= ZC_MIN_LEN)) return throw_range(env, "hdrCopy must be 0 or 128..1023");

  if (hd->kind == K_PACKET) {
    if (!hd->ring) return throw_range(env, "port was opened without rx");
    /* a batch whose recvDone never came (a stage threw): end it now */
    if (hd->held_n) zc_release(I, hd, pool, slot_size, slots, st, ln, zc);
    const uint32_t hidx = (uint32_t)(hd - I->h);
    while (n < max) {
      struct tpacket2_hdr *tp = (struct tpacket2_hdr *)(hd->ring + (size_t)hd->cur * hd->frame_size);
      uint32_t status = __atomic_load_n(&tp->tp_status, __ATOMIC_ACQUIRE);
      if (!(status & TP_STATUS_USER)) break;   /* ring empty: never block */
      if (hd->held_n && hd->cur == hd->held[0]) break;   /* wrapped round to a frame this batch holds */
      uint8_t *mac = (uint8_t *)tp + tp->tp_mac;
      uint32_t flen = tp->tp_snaplen;
      /* The kernel strips an 802.1Q tag into tp_vlan_tci on rx; put it back in the frame. */
      int vlan = (status & TP_STATUS_VLAN_VALID) && flen >= 12;
      uint32_t total = flen + (vlan ? 4 : 0);
      if (flen < tp->tp_len || total > room) {
        hd->truncated++;                       /* released without using a slot */
      } else {
        uint32_t id = fr[free_top - 1 - n];
        if (id >= slots) return throw_range(env, "free list holds a slot id outside the pool");
        uint8_t *slot = pool + (size_t)id * slot_size, *dst = slot + headroom;
        if (hd->vnet) memcpy(slot, mac - VNET_HDR_LEN, VNET_HDR_LEN); /* written at h.raw + tp_mac - 10 */
        else memset(slot, 0, VNET_HDR_LEN);
        /* zero-copy: only the first hdr_copy bytes into the slot, the tail stays in the ring frame,
         * which is held until recvDone (or the next recvBatch) */
        uint32_t copy = flen, tail = 0;
        if (zc) {
          uint32_t *r = zc + (size_t)id * ZC_STRIDE;
          uint32_t he;
          if (hdr_copy && flen >= ZC_MIN_LEN && (he = zc_header_end(mac, flen, 0)) != 0 && he + 64 <= hdr_copy) {
            copy = hdr_copy; tail = flen - copy;
            r[1] = hidx; r[2] = (uint32_t)(mac + copy - hd->ring); r[3] = hd->gen;
            hd->zc_ids[hd->zc_n++] = id;
            hd->zc_frames++;
          }
          r[0] = tail;
        }
        if (vlan) {
          uint16_t tpid = htons((status & TP_STATUS_VLAN_TPID_VALID) ? tp->tp_vlan_tpid : ETH_P_8021Q);
          uint16_t tci = htons(tp->tp_vlan_tci);
          memcpy(dst, mac, 12);
          memcpy(dst + 12, &tpid, 2);
          memcpy(dst + 14, &tci, 2);
          memcpy(dst + 16, mac + 12, copy - 12);
          if (hd->vnet) {  /* offsets in the virtio header count from the MAC header: shift them */
            uint16_t hl, cs; memcpy(&hl, slot + 2, 2); memcpy(&cs, slot + 6, 2);
            if (slot[0] & 1 /* VIRTIO_NET_HDR_F_NEEDS_CSUM */) { cs += 4; memcpy(slot + 6, &cs, 2); }
            if (hl) { hl += 4; memcpy(slot + 2, &hl, 2); }
          }
        } else {
          memcpy(dst, mac, copy);
        }
        st[id] = headroom; ln[id] = total; out[out_off + n] = id;
        n++;
        if (tail) {   /* held: returned by zc_release */
          hd->held[hd->held_n++] = hd->cur;
          hd->cur = hd->cur + 1 == hd->frame_nr ? 0 : hd->cur + 1;
          continue;
        }
      }
      __atomic_store_n(&tp->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      hd->cur = hd->cur + 1 == hd->frame_nr ? 0 : hd->cur + 1;
    }
  } else { /* K_TAP: readv until EAGAIN, max or no free slot */
    const uint32_t hl = hd->vnet ? VNET_HDR_LEN : 0;
    while (n < max) {
      uint32_t id = fr[free_top - 1 - n];
      if (id >= slots) return throw_range(env, "free list holds a slot id outside the pool");
      uint8_t *slot = pool + (size_t)id * slot_size;
      struct iovec iov[2] = { { slot, VNET_HDR_LEN }, { slot + headroom, room } };
      ssize_t r = hd->vnet ? readv(hd->fd, iov, 2) : readv(hd->fd, iov + 1, 1);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return throw_errno(env, errno, "recvBatch(%s): readv", hd->name);
      }
      hd->tap_rx++;
      /* tun returns the full length even when it had to cut the frame to fit the iovec */
      if ((uint32_t)r < hl || (uint32_t)r - hl > room) { hd->truncated++; continue; }
      if (!hd->vnet) memset(slot, 0, VNET_HDR_LEN);
      if (zc) zc[(size_t)id * ZC_STRIDE] = 0;
      st[id] = headroom; ln[id] = (uint32_t)r - hl; out[out_off + n] = id;
      n++;
    }
  }
  return num(env, n);
}

/* ---------- sendBatch -------------------------------------------------------------------------- */

static int busy_errno(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || e == ENOMEM; }

/*
 * The 24-byte UDP-tunnel virtio header (virtio_net_hdr_v1_hash_tunnel) for frame f of slot header vh
 * when f is a GSO frame carrying VXLAN: outer Ethernet (no tag) / IPv4 (no fragment) / UDP to 4789 with
 * checksum 0 / VXLAN / inner Ethernet (no tag) / IPv4 or IPv6, the partial checksum inside the inner
 * frame. Returns 0 (hdr untouched) for anything else: such a frame goes out the packet socket as before.
 */
static int vxlan_gso_header(const uint8_t *vh, const uint8_t *f, uint32_t len, uint8_t *hdr) {
  uint8_t g = vh[1] & 0x7f;                       /* without the ECN bit */
  if (!(vh[0] & 1) || (g != 1 && g != 4 && g != 5)) return 0;   /* NEEDS_CSUM; TCPV4, TCPV6, UDP_L4 */
  if (len < 14 + 20 + 8 + 8 + 14 + 20 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4) return 0;
  uint32_t ihl = (uint32_t)(f[14] & 0x0f) * 4;
  if (ihl < 20 || f[23] != 17 || (f[20] & 0x3f) || f[21]) return 0;
  uint32_t oth = 14 + ihl, inh = oth + 8 + 8 + 14;
  if (len < inh + 20 || ((f[oth + 2] << 8) | f[oth + 3]) != VXLAN_PORT || f[oth + 6] || f[oth + 7]) return 0;
  uint16_t et = (uint16_t)((f[inh - 2] << 8) | f[inh - 1]);
  if (et != 0x0800 && et != 0x86dd) return 0;
  uint32_t cs = (uint32_t)vh[6] | ((uint32_t)vh[7] << 8);
  if (cs < inh + 20) return 0;
  memcpy(hdr, vh, VNET_HDR_LEN);
  hdr[1] |= TNL_GSO_UDP_TUNNEL_IPV4;
  memset(hdr + VNET_HDR_LEN, 0, TNL_HDR_LEN - VNET_HDR_LEN);      /* num_buffers, hash: unused */
  hdr[20] = (uint8_t)oth; hdr[21] = (uint8_t)(oth >> 8);          /* outer_th_offset (LE) */
  hdr[22] = (uint8_t)inh; hdr[23] = (uint8_t)(inh >> 8);          /* inner_nh_offset (LE) */
  return 1;
}

/* sendmmsg the k messages built so far. Returns 1 when the queue is full (the caller ends the batch);
 * any other error drops just the message at hand. */
static int flush_msgs(inst_t *I, handle_t *hd, uint32_t k, uint32_t *accepted) {
  uint32_t done = 0;
  while (done < k) {
    int r = sendmmsg(hd->fd, I->msgs + done, k - done, MSG_DONTWAIT);
    if (r > 0) { *accepted += r; done += r; continue; }
    if (r < 0 && errno == EINTR) continue;
    int e = r < 0 ? errno : EIO;
    hd->send_errors++; done++;
    if (busy_errno(e)) { hd->send_busy++; hd->send_errors += k - done; return 1; }
  }
  return 0;
}

/* writev one frame on fd; 1 when the queue is full */
static int write_frame(handle_t *hd, int fd, struct iovec *iv, int c, uint32_t *accepted) {
  ssize_t r;
  do r = writev(fd, iv, c); while (r < 0 && errno == EINTR);
  if (r >= 0) { (*accepted)++; return 0; }
  hd->send_errors++;
  if (busy_errno(errno)) { hd->send_busy++; return 1; }
  return 0;
}

/* sendBatch(h, pool, slotSize, ids, off, n, start, len[, zc]) -> accepted */
static napi_value SendBatch(napi_env env, napi_callback_info info) {
  GET_ARGS_OPT(8, 9);
  handle_t *hd = arg_handle(env, I, argv[0]);
  uint8_t *pool; uint32_t *ids, *st, *ln; size_t pool_len, ids_len, st_len, ln_len;
  uint32_t slot_size, off, n;
  if (!hd || !arg_ta(env, argv[1], napi_uint8_array, (void **)&pool, &pool_len, "pool") ||
      !arg_u32(env, argv[2], &slot_size, "slotSize") ||
      !arg_ta(env, argv[3], napi_uint32_array, (void **)&ids, &ids_len, "ids") ||
      !arg_u32(env, argv[4], &off, "off") || !arg_u32(env, argv[5], &n, "n") ||
      !arg_ta(env, argv[6], napi_uint32_array, (void **)&st, &st_len, "start") ||
      !arg_ta(env, argv[7], napi_uint32_array, (void **)&ln, &ln_len, "len")) return NULL;
  if (slot_size == 0) return throw_range(env, "slotSize must be > 0");
  if ((uint64_t)off + n > ids_len) return throw_range(env, "off + n > ids.length");
  uint64_t slots = pool_slots(pool_len, slot_size, st_len, ln_len);
  uint32_t *zc;
  if (!arg_zc(env, argc, argv, 8, slots, &zc)) return NULL;
  const int vnet = hd->vnet;
  uint32_t accepted = 0, i = 0;

  while (i < n) {
    /* Build up to TX_CHUNK messages; a frame outside its slot is skipped and counted as an error. */
    uint32_t k = 0;
    while (i < n && k < TX_CHUNK) {
      uint32_t id = ids[off + i++];
      if (id >= slots || (uint64_t)st[id] + ln[id] > slot_size || ln[id] == 0 ||
          (vnet && st[id] < VNET_HDR_LEN)) { hd->send_errors++; continue; }
      uint8_t *slot = pool + (size_t)id * slot_size;
      struct iovec *iv = &I->iov[3 * k];
      int c = 0;
      uint32_t tail = zc ? zc[(size_t)id * ZC_STRIDE] : 0;
      const uint8_t *ring_tail = NULL;
      if (tail) {   /* [slot bytes][ring tail]: the payload goes out straight from the rx ring */
        ring_tail = zc_tail(I, zc, id);
        if (!ring_tail || tail > ln[id]) { hd->send_errors++; hd->zc_stale++; continue; }
      }
      if (vnet) iv[c++] = (struct iovec){ slot, VNET_HDR_LEN };
      iv[c++] = (struct iovec){ slot + st[id], ln[id] - tail };
      if (tail) iv[c++] = (struct iovec){ (void *)ring_tail, tail };
      if (hd->kind == K_TAP) {          /* tun: one writev per frame inside this one call */
        if (write_frame(hd, hd->fd, iv, c, &accepted)) { hd->send_errors += n - i; return num(env, accepted); }
        continue;
      }
      if (hd->tnl_fd >= 0 && slot[1] && vxlan_gso_header(slot, slot + st[id], ln[id] - tail, I->tnl_hdr)) {
        /* a VXLAN GSO frame: through the tunnel TAP, in order with the frames before it */
        if (flush_msgs(I, hd, k, &accepted)) { hd->send_errors += n - i + 1; return num(env, accepted); }
        k = 0;
        iv = &I->iov[0];
        iv[0] = (struct iovec){ I->tnl_hdr, TNL_HDR_LEN };
        iv[1] = (struct iovec){ slot + st[id], ln[id] - tail };
        if (tail) iv[2] = (struct iovec){ (void *)ring_tail, tail };
        uint32_t before = accepted;
        if (write_frame(hd, hd->tnl_fd, iv, tail ? 3 : 2, &accepted)) { hd->send_errors += n - i; return num(env, accepted); }
        hd->tnl_sent += accepted - before;
        continue;
      }
      memset(&I->msgs[k].msg_hdr, 0, sizeof I->msgs[k].msg_hdr);
      I->msgs[k].msg_hdr.msg_iov = iv;
      I->msgs[k].msg_hdr.msg_iovlen = c;
      k++;
    }
    /* AF_PACKET: one sendmmsg per chunk. On failure the message at hand is dropped; a full queue
     * ends the batch (the rest would fail too), any other error skips just that frame. */
    if (flush_msgs(I, hd, k, &accepted)) { hd->send_errors += n - i; return num(env, accepted); }
  }
  return num(env, accepted);
}

/* Open a queue of the multi-queue TAP `name` (created if absent, not persistent: it goes away with its
 * last fd) with the UDP-tunnel virtio header. Returns the fd, -1 when the kernel has no UDP-tunnel GSO
 * for TAPs (TUNSETOFFLOAD refuses the flag: Linux before 6.17), or -2 - errno for any other failure. */
static int tunnel_tap_queue(const char *name) {
  int fd = tun_attach(name, IFF_VNET_HDR | IFF_MULTI_QUEUE, O_NONBLOCK);
  if (fd < 0) return -2 - errno;
  int sz = TNL_HDR_LEN;
  if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) { int e = errno; close(fd); return -2 - e; }
  if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TNL_TUN_F_UDP_TUNNEL_GSO)) < 0) {
    int e = errno; close(fd);
    return e == EINVAL ? -1 : -2 - e;
  }
  return fd;
}

/* tunnelTapOpen(name) -> fd, or -1 without kernel support */
static napi_value TunnelTapOpen(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  (void)I;
  char name[IFNAMSIZ + 8];
  if (!arg_str(env, argv[0], name, sizeof name, "name")) return NULL;
  int fd = tunnel_tap_queue(name);
  if (fd < -1) return throw_errno(env, -2 - fd, "tunnelTapOpen(%s)", name);
  return num(env, fd);
}

/* attachTunnelTx(h, name) -> true, or false without kernel support */
static napi_value AttachTunnelTx(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  handle_t *hd = arg_handle(env, I, argv[0]);
  char name[IFNAMSIZ + 8];
  if (!hd || !arg_str(env, argv[1], name, sizeof name, "name")) return NULL;
  if (hd->kind != K_PACKET || !hd->vnet) return throw_range(env, "attachTunnelTx: not an AF_PACKET port with the vnet header");
  int fd = tunnel_tap_queue(name);
  if (fd < -1) return throw_errno(env, -2 - fd, "attachTunnelTx(%s, %s)", hd->name, name);
  if (hd->tnl_fd >= 0) close(hd->tnl_fd);
  hd->tnl_fd = fd;
  napi_value r; napi_get_boolean(env, fd >= 0, &r);
  return r;
}

/* ---------- poll, stats, threads --------------------------------------------------------------- */

static napi_value PollIn(napi_env env, napi_callback_info info) {
  GET_ARGS(3);
  int32_t *fds; size_t fds_len; uint32_t n; int32_t timeout;
  if (!arg_ta(env, argv[0], napi_int32_array, (void **)&fds, &fds_len, "fds") ||
      !arg_u32(env, argv[1], &n, "n") || !arg_i32(env, argv[2], &timeout, "timeoutMs")) return NULL;
  if (n > fds_len || n > MAX_POLL) return throw_range(env, "n > fds.length or > 1024");
  for (uint32_t i = 0; i < n; i++) I->pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
  int r = poll(I->pfd, n, timeout);
  if (r < 0) {
    if (errno == EINTR) r = 0;
    else return throw_errno(env, errno, "pollIn: poll");
  }
  return num(env, r);
}

static void set_num(napi_env env, napi_value obj, const char *key, double d) {
  napi_set_named_property(env, obj, key, num(env, d));
}

static napi_value PortStats(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  handle_t *hd = arg_handle(env, I, argv[0]);
  if (!hd) return NULL;
  if (hd->kind == K_PACKET) {
    /* The kernel resets these counters on every read: accumulate. tp_packets includes tp_drops. */
    struct tpacket_stats ks; socklen_t sl = sizeof ks;
    if (getsockopt(hd->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &sl) == 0) {
      hd->kpackets += ks.tp_packets; hd->kdrops += ks.tp_drops;
    }
  }
  napi_value o;
  napi_create_object(env, &o);
  set_num(env, o, "kernelPackets", (double)(hd->kind == K_TAP ? hd->tap_rx : hd->kpackets));
  set_num(env, o, "kernelDrops", (double)hd->kdrops);
  set_num(env, o, "truncated", (double)hd->truncated);
  set_num(env, o, "sendErrors", (double)hd->send_errors);
  set_num(env, o, "sendBusy", (double)hd->send_busy);
  set_num(env, o, "tunnelGso", (double)hd->tnl_sent);
  set_num(env, o, "zeroCopy", (double)hd->zc_frames);
  set_num(env, o, "zeroCopyMaterialized", (double)hd->zc_materialized);
  set_num(env, o, "zeroCopyStale", (double)hd->zc_stale);
  return o;
}

static napi_value SetAffinity(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  uint32_t cpu;
  if (!arg_u32(env, argv[0], &cpu, "cpu")) return NULL;
  if (cpu >= CPU_SETSIZE) return throw_range(env, "cpu out of range");
  cpu_set_t set; CPU_ZERO(&set); CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) < 0)   /* 0 = the calling thread */
    return throw_errno(env, errno, "setAffinity(%u): sched_setaffinity", cpu);
  return undef(env);
}

static napi_value Gettid(napi_env env, napi_callback_info info) {
  (void)info;
  return num(env, (double)syscall(SYS_gettid));
}

/* setpriority(PRIO_PROCESS, gettid(), nice): the nice value of the CALLING thread only (Linux
 * keeps nice per thread). Throws on error (raising priority needs CAP_SYS_NICE). */
static napi_value SetNice(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1]; int32_t nice = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &nice) != napi_ok || nice < -20 || nice > 19) {
    napi_throw_range_error(env, NULL, "setNice(nice): nice must be an integer -20..19");
    return NULL;
  }
  if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) < 0)
    return throw_errno(env, errno, "setNice(%d): setpriority", nice);
  return undef(env);
}

/* sched_yield(): an idle-spinning worker lets other runnable threads on its CPU (the VMs' and
 * namespaces' own processes on a small host) run, without giving up its place to sleep. */
static napi_value Yield(napi_env env, napi_callback_info info) {
  (void)info;
  sched_yield();
  return undef(env);
}

/* ---------- TAP -------------------------------------------------------------------------------- */

/* Open /dev/net/tun and attach to TAP `name` with `flags` (IFF_TAP|IFF_NO_PI added). -1 + errno. */
static int tun_attach(const char *name, int flags, int oflags) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | oflags);
  if (fd < 0) return -1;
  struct ifreq ifr; memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | flags);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { int e = errno; close(fd); errno = e; return -1; }
  return fd;
}

/* tun_flags of an existing tun/tap netdev from sysfs, or -1 if there is none. */
static long tun_flags(const char *name) {
  char p[96], b[32]; snprintf(p, sizeof p, "/sys/class/net/%s/tun_flags", name);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t r = read(fd, b, sizeof b - 1); close(fd);
  if (r <= 0) return -1;
  b[r] = 0;
  return strtol(b, NULL, 16);
}

static napi_value TapCreate(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  char name[IFNAMSIZ + 8]; bool mq = false;
  if (!arg_str(env, argv[0], name, sizeof name, "name")) return NULL;
  napi_get_value_bool(env, argv[1], &mq);
  long f = tun_flags(name);
  /* Idempotent: already a persistent TAP with the same multi-queue flag. */
  if (f >= 0 && (f & IFF_TAP) && (f & IFF_PERSIST) && !!(f & IFF_MULTI_QUEUE) == mq) return undef(env);
  int fd = tun_attach(name, mq ? IFF_MULTI_QUEUE : 0, 0);
  if (fd < 0) return throw_errno(env, errno, "tapCreate(%s): TUNSETIFF", name);
  const char *step = "TUNSETPERSIST";
  if (ioctl(fd, TUNSETPERSIST, 1) < 0) goto fail;
  step = "TUNSETOWNER";
  if (ioctl(fd, TUNSETOWNER, (unsigned long)geteuid()) < 0) goto fail;
  close(fd);
  return undef(env);
fail: {
    int e = errno; close(fd);
    return throw_errno(env, e, "tapCreate(%s): %s", name, step);
  }
}

static napi_value TapDestroy(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  char name[IFNAMSIZ + 8];
  if (!arg_str(env, argv[0], name, sizeof name, "name")) return NULL;
  long f = tun_flags(name);
  if (f < 0) return undef(env);                 /* no such TAP: nothing to do */
  int fd = tun_attach(name, (int)(f & IFF_MULTI_QUEUE), 0);
  if (fd < 0) return throw_errno(env, errno, "tapDestroy(%s): TUNSETIFF", name);
  int r = ioctl(fd, TUNSETPERSIST, 0), e = errno;
  close(fd);
  if (r < 0) return throw_errno(env, e, "tapDestroy(%s): TUNSETPERSIST 0", name);
  return undef(env);
}

static napi_value TapOpen(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  char name[IFNAMSIZ + 8]; bool mq = false;
  if (!arg_str(env, argv[0], name, sizeof name, "name")) return NULL;
  napi_get_value_bool(env, argv[1], &mq);
  int fd = tun_attach(name, mq ? IFF_MULTI_QUEUE : 0, 0);
  if (fd < 0) return throw_errno(env, errno, "tapOpen(%s): TUNSETIFF", name);
  return num(env, fd);
}

static napi_value CloseFd(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int32_t fd;
  if (!arg_i32(env, argv[0], &fd, "fd")) return NULL;
  for (int i = 0; i < MAX_HANDLES; i++)        /* never close an fd a port handle owns */
    if (I->h[i].kind != K_FREE && I->h[i].fd == fd) return throw_range(env, "fd belongs to a port: use closePort");
  if (close(fd) < 0) return throw_errno(env, errno, "closeFd(%d): close", fd);
  return undef(env);
}

/* openTapPort(name, {vnetHdr, multiQueue}) -> handle */
static napi_value OpenTapPort(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  char name[IFNAMSIZ + 8]; int vnet, mq;
  if (!arg_str(env, argv[0], name, sizeof name, "name")) return NULL;
  if (!arg_bool(env, argv[1], "vnetHdr", &vnet) || !arg_bool(env, argv[1], "multiQueue", &mq)) return NULL;
  int idx = alloc_handle(I);
  if (idx < 0) return throw_errno(env, EMFILE, "openTapPort(%s): handle table full", name);
  int fd = tun_attach(name, (vnet ? IFF_VNET_HDR : 0) | (mq ? IFF_MULTI_QUEUE : 0), O_NONBLOCK);
  if (fd < 0) return throw_errno(env, errno, "openTapPort(%s): TUNSETIFF", name);
  if (vnet) {
    int sz = VNET_HDR_LEN;
    const char *step = "TUNSETVNETHDRSZ";
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) goto fail;
    /* Let the host stack hand us partial checksums and TSO frames (kept as virtio metadata). */
    step = "TUNSETOFFLOAD";
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) < 0) goto fail;
    goto ok;
  fail: {
      int e = errno; close(fd);
      return throw_errno(env, e, "openTapPort(%s): %s", name, step);
    }
  }
ok: {
    handle_t *hd = &I->h[idx];
    clear_handle(hd);
    hd->kind = K_TAP; hd->fd = fd; hd->vnet = vnet;
    memcpy(hd->name, name, strlen(name) + 1); /* length checked < IFNAMSIZ */
    return num(env, idx);
  }
}

/* ---------- handing a port from one thread to another (VMQ queue moves, src/vmq) ----------------- */

/* A port handle is per thread, but its fd and rx ring are the process's. parkPort moves a handle out
 * of the calling thread's table into this process-wide lot, untouched (nothing is closed, the kernel
 * keeps filling the ring); unparkPort moves it into the calling thread's table, where recvBatch goes on
 * at the same ring position. No frame is lost or seen twice while it is parked (a ring that fills
 * meanwhile counts drops in PACKET_STATISTICS as always). */
#include <pthread.h>
#define MAX_PARKED 64
static pthread_mutex_t parked_lock = PTHREAD_MUTEX_INITIALIZER;
static handle_t parked[MAX_PARKED];   /* kind K_FREE = empty place (static: zeroed) */

/* parkPort(h) -> ticket */
static napi_value ParkPort(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  handle_t *hd = arg_handle(env, I, argv[0]);
  if (!hd) return NULL;
  pthread_mutex_lock(&parked_lock);
  int t = -1;
  for (int i = 0; i < MAX_PARKED; i++) if (parked[i].kind == K_FREE) { t = i; break; }
  if (t >= 0) {
    if (hd->ring) return_held(hd);   /* recvDone ended every batch; this is the back-stop */
    parked[t] = *hd; memset(hd, 0, sizeof *hd); hd->fd = -1;
  }
  pthread_mutex_unlock(&parked_lock);
  if (t < 0) return throw_errno(env, EMFILE, "parkPort: %d ports are parked already", MAX_PARKED);
  return num(env, t);
}

static int take_parked(uint32_t t, handle_t *out) {
  int ok = 0;
  pthread_mutex_lock(&parked_lock);
  if (t < MAX_PARKED && parked[t].kind != K_FREE) { *out = parked[t]; memset(&parked[t], 0, sizeof parked[t]); ok = 1; }
  pthread_mutex_unlock(&parked_lock);
  return ok;
}

/* unparkPort(ticket) -> handle of the calling thread */
static napi_value UnparkPort(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  uint32_t t;
  if (!arg_u32(env, argv[0], &t, "ticket")) return NULL;
  int idx = alloc_handle(I);
  if (idx < 0) return throw_errno(env, EMFILE, "unparkPort: handle table full");
  if (!take_parked(t, &I->h[idx])) return throw_range(env, "unparkPort: no port is parked under this ticket");
  return num(env, idx);
}

/* dropParked(ticket): close a parked port nobody will take (its taker died); false if none */
static napi_value DropParked(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  uint32_t t; handle_t h;
  if (!arg_u32(env, argv[0], &t, "ticket")) return NULL;
  napi_value r;
  int had = take_parked(t, &h);
  if (had) release_handle(&h);
  napi_get_boolean(env, had, &r);
  return r;
}

/* setAffinityCpus(cpus: number[]): sched_setaffinity of the CALLING thread to a set (empty: every CPU) */
static napi_value SetAffinityCpus(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  uint32_t n = 0;
  if (napi_get_array_length(env, argv[0], &n) != napi_ok) { napi_throw_type_error(env, NULL, "cpus must be an array"); return NULL; }
  cpu_set_t set; CPU_ZERO(&set);
  if (n == 0) {
    long online = sysconf(_SC_NPROCESSORS_CONF);
    for (long c = 0; c < online && c < CPU_SETSIZE; c++) CPU_SET(c, &set);
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value v; uint32_t cpu;
    if (napi_get_element(env, argv[0], i, &v) != napi_ok || !arg_u32(env, v, &cpu, "cpu")) return NULL;
    if (cpu >= CPU_SETSIZE) return throw_range(env, "cpu out of range");
    CPU_SET(cpu, &set);
  }
  if (sched_setaffinity(0, sizeof set, &set) < 0) return throw_errno(env, errno, "setAffinityCpus: sched_setaffinity");
  return undef(env);
}

/* ---------- module ----------------------------------------------------------------------------- */

/* Runs when the environment (thread) that loaded us goes away: close whatever it left open. */
static void instance_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  inst_t *I = data;
  for (int i = 0; i < MAX_HANDLES; i++) if (I->h[i].kind != K_FREE) release_handle(&I->h[i]);
  free(I);
}

/* the libpcap port backend (xvs_pcap.c): its pcap* functions, with their own per-environment handle table */
int xvs_pcap_register(napi_env env, napi_value exports);
/* sd_notify for the daemon under systemd (src/service/sd_notify.c) */
int xvs_notify_register(napi_env env, napi_value exports);
/* receive filters for uplink steering (xvs_steer.c): setRxFilter */
int xvs_steer_register(napi_env env, napi_value exports);

NAPI_MODULE_INIT() {
  inst_t *I = calloc(1, sizeof *I);
  if (!I) { napi_throw_error(env, "ENOMEM", "xvs_native: out of memory"); return NULL; }
  for (int i = 0; i < MAX_HANDLES; i++) clear_handle(&I->h[i]);
  if (napi_set_instance_data(env, I, instance_finalize, NULL) != napi_ok) { free(I); return NULL; }
#define FN(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL }
  napi_property_descriptor props[] = {
    FN("openPort", OpenPort), FN("closePort", ClosePort), FN("portFd", PortFd),
    FN("recvBatch", RecvBatch), FN("sendBatch", SendBatch), FN("pollIn", PollIn),
    FN("portStats", PortStats), FN("setAffinity", SetAffinity), FN("gettid", Gettid), FN("yieldCpu", Yield), FN("setNice", SetNice),
    FN("tapCreate", TapCreate), FN("tapDestroy", TapDestroy), FN("tapOpen", TapOpen),
    FN("closeFd", CloseFd), FN("openTapPort", OpenTapPort),
    FN("tunnelTapOpen", TunnelTapOpen), FN("attachTunnelTx", AttachTunnelTx),
    FN("recvDone", RecvDone), FN("materialize", Materialize),
    FN("parkPort", ParkPort), FN("unparkPort", UnparkPort), FN("dropParked", DropParked), FN("setAffinityCpus", SetAffinityCpus),
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  /* the length from which recvBatch may receive zero-copy: the one definition, read by native-port.ts */
  napi_value zc_min;
  if (napi_create_uint32(env, ZC_MIN_LEN, &zc_min) != napi_ok || napi_set_named_property(env, exports, "zeroCopyMinLen", zc_min) != napi_ok) return NULL;
  if (xvs_pcap_register(env, exports) != 0) { napi_throw_error(env, "ENOMEM", "xvs_native: cannot register the pcap backend"); return NULL; }
  if (xvs_notify_register(env, exports) != 0) { napi_throw_error(env, "ENOMEM", "xvs_native: cannot register notify"); return NULL; }
  if (xvs_steer_register(env, exports) != 0) { napi_throw_error(env, "ENOMEM", "xvs_native: cannot register setRxFilter"); return NULL; }
  return exports;
}
