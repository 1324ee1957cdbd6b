/*
 * xvs_pcap.c: the libpcap port backend of the native edge (contract: SPEC.md, "libpcap ports").
 *
 * A port opened through libpcap instead of a raw AF_PACKET socket: rx = pcap_dispatch() (non-blocking,
 * immediate mode) copying each frame straight into a pool slot popped from the free stack, exactly as
 * recvBatch does; tx = pcap_inject() per frame inside one pcapSendBatch call. The calls keep recvBatch's
 * and sendBatch's signatures so the TypeScript NativePort drives either backend unchanged.
 *
 * libpcap carries no virtio-net header. On rx the slot's header is zeroed (the netdev's offloads are
 * turned off by the control plane so frames arrive wire-sized). On tx a frame from a vnet-header port
 * may still say NEEDS_CSUM (partial checksum) or be a GSO super-frame: it is completed in software here
 * (checksum filled in, or cut into gso_size segments with their IP/TCP/UDP headers and checksums), in a
 * per-thread scratch buffer so the pool slot, which other ports may still send, is never changed.
 *
 * Context-aware like xvs_native.c: xvs_pcap_register() gives each Node environment (main thread, every
 * worker) its own handle table, passed to the functions as their callback data and freed by an
 * environment cleanup hook (which closes the pcap handles a finished worker still held).
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <stdarg.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/filter.h>
#include <linux/if_packet.h>

#define PCAP_MAX_HANDLES 256
#define VNET_HDR_LEN 10
#define PCAP_SNAPLEN 262144          /* > 65535: libpcap sizes ring frames from the MTU once offloads are off */
#define PCAP_RX_BUFFER (4 << 20)     /* kernel ring bytes of an rx handle */
#define PCAP_TX_BUFFER (64 << 10)    /* a tx-only handle's ring receives nothing (reject-all filter) */
#define SCRATCH_LEN (65536 + 256)

/* virtio_net_hdr (little-endian, as AF_PACKET and tun use on x86) */
#define F_NEEDS_CSUM 1
#define GSO_NONE 0
#define GSO_TCPV4 1
#define GSO_TCPV6 4
#define GSO_UDP_L4 5
#define GSO_ECN 0x80

typedef struct {
  pcap_t *p;                         /* NULL: free entry */
  int fd;
  int rx;
  char name[IFNAMSIZ];
  uint64_t truncated, send_errors, send_busy, csum_done, gso_frames, gso_segments;
} pport_t;

typedef struct {
  pport_t h[PCAP_MAX_HANDLES];
  uint8_t scratch[SCRATCH_LEN];     /* tx: a frame whose checksum or segmentation is completed here */
  char errbuf[PCAP_ERRBUF_SIZE];
} pinst_t;

/* ---------- helpers ------------------------------------------------------------------------------ */

static napi_value pthrow(napi_env env, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static napi_value pthrow(napi_env env, const char *code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value prange(napi_env env, const char *msg) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return NULL;
}

static napi_value pnum(napi_env env, double d) { napi_value r; napi_create_double(env, d, &r); return r; }

#define PGET_ARGS(N)                                                                   \
  size_t argc = (N);                                                                   \
  napi_value argv[(N) > 0 ? (N) : 1];                                                  \
  pinst_t *I = NULL;                                                                   \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&I) != napi_ok || !I) return NULL; \
  if (argc < (N)) { napi_throw_type_error(env, NULL, "too few arguments"); return NULL; }

static int pu32(napi_env env, napi_value v, uint32_t *out, const char *what) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    char m[96]; snprintf(m, sizeof m, "%s must be a number", what);
    napi_throw_type_error(env, NULL, m); return 0;
  }
  return 1;
}

static int pta(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len, const char *what) {
  bool is = false; napi_typedarray_type t; napi_value ab; size_t off;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) != napi_ok || t != want) {
    char m[96]; snprintf(m, sizeof m, "%s has the wrong type", what);
    napi_throw_type_error(env, NULL, m); return 0;
  }
  return 1;
}

static pport_t *phandle(napi_env env, pinst_t *I, napi_value v) {
  uint32_t h;
  if (!pu32(env, v, &h, "handle")) return NULL;
  if (h >= PCAP_MAX_HANDLES || !I->h[h].p) { prange(env, "unknown pcap port handle"); return NULL; }
  return &I->h[h];
}

static void pclose_port(pport_t *pp) {
  if (pp->p) pcap_close(pp->p);
  memset(pp, 0, sizeof *pp);
  pp->fd = -1;
}

/* ---------- pcapOpen ----------------------------------------------------------------------------- */

/* pcapOpen(ifname, {rx}) -> handle */
static napi_value PcapOpen(napi_env env, napi_callback_info info) {
  PGET_ARGS(2);
  char name[IFNAMSIZ + 8]; size_t nlen = 0; napi_value v; bool rx = false;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok) {
    napi_throw_type_error(env, NULL, "ifname must be a string"); return NULL;
  }
  if (nlen == 0 || nlen >= IFNAMSIZ) return prange(env, "ifname must be 1..15 characters");
  if (napi_get_named_property(env, argv[1], "rx", &v) == napi_ok) napi_get_value_bool(env, v, &rx);
  int idx = -1;
  for (int i = 0; i < PCAP_MAX_HANDLES; i++) if (!I->h[i].p) { idx = i; break; }
  if (idx < 0) return pthrow(env, "EMFILE", "pcapOpen(%s): handle table full", name);
  if (!if_nametoindex(name)) return pthrow(env, "ENODEV", "pcapOpen(%s): no such interface", name);

  I->errbuf[0] = 0;
  pcap_t *p = pcap_create(name, I->errbuf);
  if (!p) return pthrow(env, "EPCAP", "pcapOpen(%s): pcap_create: %s", name, I->errbuf);
  const char *step = "pcap_set_snaplen";
  int r;
  if ((r = pcap_set_snaplen(p, PCAP_SNAPLEN)) != 0) goto fail;
  step = "pcap_set_promisc";      /* a switch port hears every MAC behind it */
  if ((r = pcap_set_promisc(p, 1)) != 0) goto fail;
  step = "pcap_set_immediate_mode";  /* frames are delivered as they arrive (and libpcap uses TPACKET_V2) */
  if ((r = pcap_set_immediate_mode(p, 1)) != 0) goto fail;
  step = "pcap_set_buffer_size";
  if ((r = pcap_set_buffer_size(p, rx ? PCAP_RX_BUFFER : PCAP_TX_BUFFER)) != 0) goto fail;
  step = "pcap_activate";
  r = pcap_activate(p);
  if (r < 0) goto fail;             /* > 0 is a warning (e.g. promiscuous mode not supported): fine */
  step = "pcap_datalink";
  if (pcap_datalink(p) != DLT_EN10MB) { r = PCAP_ERROR; snprintf(I->errbuf, sizeof I->errbuf, "not an Ethernet device"); goto fail_msg; }
  /* a port must not see what the switch sends on it (its other workers' handles included) */
  step = "pcap_setdirection(PCAP_D_IN)";
  if ((r = pcap_setdirection(p, PCAP_D_IN)) != 0) goto fail;
  step = "pcap_setnonblock";
  if ((r = pcap_setnonblock(p, 1, I->errbuf)) != 0) goto fail_msg;
  int fd = pcap_get_selectable_fd(p);
  if (fd < 0) { step = "pcap_get_selectable_fd"; r = PCAP_ERROR; snprintf(I->errbuf, sizeof I->errbuf, "no selectable fd"); goto fail_msg; }
  {
    /* the same in the kernel: outgoing frames are never queued to this socket at all */
    int one = 1;
    (void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  }
  if (!rx) {
    /* tx-only (another worker receives from this port): a reject-all filter, so nothing is queued */
    struct bpf_insn reject = BPF_STMT(BPF_RET | BPF_K, 0);
    struct bpf_program prog = { 1, &reject };
    step = "pcap_setfilter";
    if ((r = pcap_setfilter(p, &prog)) != 0) goto fail;
  }
  pport_t *pp = &I->h[idx];
  memset(pp, 0, sizeof *pp);
  pp->p = p; pp->fd = fd; pp->rx = rx;
  memcpy(pp->name, name, nlen + 1);
  return pnum(env, idx);
fail: {
    /* PCAP_ERROR: the message is in pcap_geterr; the specific codes have a text of their own, plus any detail */
    const char *detail = pcap_geterr(p);
    if (r == PCAP_ERROR) snprintf(I->errbuf, sizeof I->errbuf, "%s", detail && detail[0] ? detail : pcap_statustostr(r));
    else snprintf(I->errbuf, sizeof I->errbuf, "%s%s%s", pcap_statustostr(r), detail && detail[0] ? ": " : "", detail ? detail : "");
  }
fail_msg:
  pcap_close(p);
  return pthrow(env, r == PCAP_ERROR_PERM_DENIED ? "EPERM" : r == PCAP_ERROR_NO_SUCH_DEVICE ? "ENODEV" : "EPCAP",
                "pcapOpen(%s): %s: %s", name, step, I->errbuf);
}

static napi_value PcapClose(napi_env env, napi_callback_info info) {
  PGET_ARGS(1);
  pport_t *pp = phandle(env, I, argv[0]);
  if (!pp) return NULL;
  pclose_port(pp);
  napi_value u; napi_get_undefined(env, &u); return u;
}

static napi_value PcapFd(napi_env env, napi_callback_info info) {
  PGET_ARGS(1);
  pport_t *pp = phandle(env, I, argv[0]);
  return pp ? pnum(env, pp->fd) : NULL;
}

/* ---------- pcapRecvBatch ------------------------------------------------------------------------ */

typedef struct {
  pport_t *pp;
  uint8_t *pool; uint32_t slot_size, headroom, room;
  uint32_t *fr, free_top; uint32_t *out, out_off; uint32_t *st, *ln;
  uint64_t slots;
  uint32_t n, max;
  int bad_slot;
} rxctx_t;

/* pcap_dispatch's per-frame callback (C, inside the one batch call): copy into the next free slot */
static void on_frame(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes) {
  rxctx_t *c = (rxctx_t *)user;
  if (c->n >= c->max || c->bad_slot) return;
  if (h->caplen < h->len || h->caplen > c->room) { c->pp->truncated++; return; }
  uint32_t id = c->fr[c->free_top - 1 - c->n];
  if (id >= c->slots) { c->bad_slot = 1; return; }
  uint8_t *slot = c->pool + (size_t)id * c->slot_size;
  memset(slot, 0, VNET_HDR_LEN);     /* no offload metadata through libpcap */
  memcpy(slot + c->headroom, bytes, h->caplen);
  c->st[id] = c->headroom; c->ln[id] = h->caplen; c->out[c->out_off + c->n] = id;
  c->n++;
}

/* pcapRecvBatch(h, pool, slotSize, headroom, free, freeTop, out, outOff, max, start, len) -> n */
static napi_value PcapRecvBatch(napi_env env, napi_callback_info info) {
  PGET_ARGS(11);
  pport_t *pp = phandle(env, I, argv[0]);
  rxctx_t c; memset(&c, 0, sizeof c);
  size_t pool_len, fr_len, out_len, st_len, ln_len;
  if (!pp || !pta(env, argv[1], napi_uint8_array, (void **)&c.pool, &pool_len, "pool") ||
      !pu32(env, argv[2], &c.slot_size, "slotSize") || !pu32(env, argv[3], &c.headroom, "headroom") ||
      !pta(env, argv[4], napi_uint32_array, (void **)&c.fr, &fr_len, "free") ||
      !pu32(env, argv[5], &c.free_top, "freeTop") ||
      !pta(env, argv[6], napi_uint32_array, (void **)&c.out, &out_len, "out") ||
      !pu32(env, argv[7], &c.out_off, "outOff") || !pu32(env, argv[8], &c.max, "max") ||
      !pta(env, argv[9], napi_uint32_array, (void **)&c.st, &st_len, "start") ||
      !pta(env, argv[10], napi_uint32_array, (void **)&c.ln, &ln_len, "len")) return NULL;
  if (!pp->rx) return prange(env, "pcap port was opened without rx");
  if (c.slot_size == 0 || c.headroom < VNET_HDR_LEN || c.headroom >= c.slot_size)
    return prange(env, "need 10 <= headroom < slotSize");
  if (c.free_top > fr_len) return prange(env, "freeTop > free.length");
  if ((uint64_t)c.out_off + c.max > out_len) return prange(env, "outOff + max > out.length");
  c.slots = pool_len / c.slot_size;
  if (st_len < c.slots) c.slots = st_len;
  if (ln_len < c.slots) c.slots = ln_len;
  if (c.max > c.free_top) c.max = c.free_top;   /* one free slot per frame */
  c.room = c.slot_size - c.headroom;
  c.pp = pp;
  if (c.max == 0) return pnum(env, 0);
  /* cnt = max: frames that were truncated use no slot, so n <= max always holds */
  int r = pcap_dispatch(pp->p, (int)c.max, on_frame, (u_char *)&c);
  if (c.bad_slot) return prange(env, "free list holds a slot id outside the pool");
  if (r == PCAP_ERROR) return pthrow(env, "EPCAP", "pcapRecvBatch(%s): pcap_dispatch: %s", pp->name, pcap_geterr(pp->p));
  return pnum(env, c.n);
}

/* ---------- software checksum and segmentation (tx of frames from vnet-header ports) ------------ */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n) {
  /* 16-bit one's complement sum, big-endian words; 64-bit accumulator folded at the end */
  uint64_t s = sum;
  while (n >= 8) {
    uint64_t w; memcpy(&w, p, 8);
    /* RFC 1071: summing host-order (little-endian) words gives the byte-swapped sum, which stored back
     * with memcpy is the right field in network order; two 32-bit halves ≡ their 16-bit words mod 0xffff */
    s += (w & 0xffffffffu) + (w >> 32);
    p += 8; n -= 8;
  }
  uint64_t tail = 0;
  while (n >= 2) { uint16_t w; memcpy(&w, p, 2); tail += w; p += 2; n -= 2; }
  if (n) tail += *p;              /* little-endian host: a lone byte is the high byte of a BE word → low byte here */
  s += tail;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint32_t)s;             /* in host (little-endian) byte order of the words */
}

/* the folded sum as the 16-bit field value to store (bytes in network order) */
static uint16_t csum_final(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  uint16_t f = (uint16_t)~s;
  return f == 0 ? 0xffff : f;     /* as the kernel's skb_checksum_help: 0 is sent as 0xffff (CSUM_MANGLED_0) */
}

static uint32_t host_word_sum(uint32_t s, uint16_t be) { uint16_t w; memcpy(&w, &be, 2); return s + w; }

static int inject(pport_t *pp, const uint8_t *buf, uint32_t len) {
  int r;
  do r = pcap_inject(pp->p, buf, len); while (r < 0 && errno == EINTR);
  return r < 0 ? -1 : 0;
}

static int busy(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || e == ENOMEM; }

/* NEEDS_CSUM without GSO: the L4 checksum field holds the pseudo-header sum; sum from csum_start. */
static int send_csum(pinst_t *I, pport_t *pp, const uint8_t *f, uint32_t len, uint16_t cstart, uint16_t coff) {
  if ((uint32_t)cstart + coff + 2 > len || len > SCRATCH_LEN) { errno = EINVAL; return -1; }
  memcpy(I->scratch, f, len);
  uint16_t v = csum_final(csum_add(0, I->scratch + cstart, len - cstart));
  memcpy(I->scratch + cstart + coff, &v, 2);
  pp->csum_done++;
  return inject(pp, I->scratch, len);
}

/*
 * A GSO frame cut into segments of gso_size payload bytes, each sent complete: IPv4 total length, id + k
 * and header checksum / IPv6 payload length; TCP sequence + offset, FIN and PSH on the last segment only,
 * CWR on the first only; UDP length; the L4 checksum computed in full. Returns 0, or -1 with errno.
 */
static int send_gso(pinst_t *I, pport_t *pp, const uint8_t *f, uint32_t len, const uint8_t *vh) {
  int type = vh[1] & ~GSO_ECN;
  uint16_t mss, cstart; memcpy(&mss, vh + 4, 2); memcpy(&cstart, vh + 6, 2);
  uint32_t l3 = 14; uint16_t et = (uint16_t)(f[12] << 8 | f[13]);
  if (et == 0x8100 && len >= 18) { et = (uint16_t)(f[16] << 8 | f[17]); l3 = 18; }
  int v4, tcp = type != GSO_UDP_L4;
  uint32_t l4;
  if (et == 0x0800 && (type == GSO_TCPV4 || type == GSO_UDP_L4)) {
    if (len < l3 + 20 || (f[l3] >> 4) != 4) goto bad;
    v4 = 1; l4 = l3 + (f[l3] & 0x0f) * 4u;
    if (f[l3 + 9] != (tcp ? 6 : 17)) goto bad;
  } else if (et == 0x86dd && (type == GSO_TCPV6 || type == GSO_UDP_L4)) {
    if (len < l3 + 40 || (f[l3] >> 4) != 6) goto bad;
    v4 = 0;
    /* extension headers: trust csum_start (NEEDS_CSUM is always set with GSO) when it lies further in */
    l4 = (vh[0] & F_NEEDS_CSUM) && cstart >= l3 + 40 ? cstart : l3 + 40;
    if (l4 == l3 + 40 && f[l3 + 6] != (tcp ? 6 : 17)) goto bad;
  } else goto bad;
  if (len < l4 + (tcp ? 20u : 8u)) goto bad;
  uint32_t hlen = l4 + (tcp ? (f[l4 + 12] >> 4) * 4u : 8u);
  if (hlen > len || (tcp && hlen < l4 + 20) || mss == 0) goto bad;
  uint32_t data = len - hlen, nseg = data == 0 ? 1 : (data + mss - 1) / mss;
  uint8_t proto = tcp ? 6 : 17;
  uint32_t seq0 = 0; uint16_t id0 = 0;
  if (tcp) { memcpy(&seq0, f + l4 + 4, 4); seq0 = ntohl(seq0); }
  if (v4) { memcpy(&id0, f + l3 + 4, 2); id0 = ntohs(id0); }
  uint8_t *s = I->scratch;
  pp->gso_frames++;
  for (uint32_t k = 0; k < nseg; k++) {
    uint32_t off = k * mss, chunk = data - off < mss ? data - off : mss, slen = hlen + chunk;
    if (slen > SCRATCH_LEN) goto bad;
    memcpy(s, f, hlen);
    memcpy(s + hlen, f + hlen + off, chunk);
    uint32_t l4len = slen - l4;
    if (v4) {
      uint16_t tot = htons((uint16_t)(slen - l3)), id = htons((uint16_t)(id0 + k)), z = 0;
      memcpy(s + l3 + 2, &tot, 2); memcpy(s + l3 + 4, &id, 2); memcpy(s + l3 + 10, &z, 2);
      uint16_t hc = (uint16_t)~csum_add(0, s + l3, l4 - l3);   /* the header checksum: plain ~sum */
      memcpy(s + l3 + 10, &hc, 2);
    } else {
      uint16_t pl = htons((uint16_t)(slen - l3 - 40));
      memcpy(s + l3 + 4, &pl, 2);
    }
    if (tcp) {
      uint32_t seq = htonl(seq0 + off); memcpy(s + l4 + 4, &seq, 4);
      uint8_t *fl = s + l4 + 13;
      if (k + 1 < nseg) *fl &= (uint8_t)~(0x01 | 0x08);  /* FIN, PSH: last segment only */
      if (k > 0) *fl &= (uint8_t)~0x80;                   /* CWR: first segment only */
    } else {
      uint16_t ul = htons((uint16_t)l4len); memcpy(s + l4 + 4, &ul, 2);
    }
    /* pseudo-header + L4 header and data, checksum field zeroed */
    uint32_t cs_off = l4 + (tcp ? 16 : 6);
    uint16_t z = 0; memcpy(s + cs_off, &z, 2);
    uint32_t sum = v4 ? csum_add(0, s + l3 + 12, 8) : csum_add(0, s + l3 + 8, 32);
    sum = host_word_sum(sum, htons((uint16_t)proto));
    if (!v4 && l4len > 0xffff) goto bad;
    sum = host_word_sum(sum, htons((uint16_t)l4len));
    sum = csum_add(sum, s + l4, l4len);
    uint16_t v = csum_final(sum);
    memcpy(s + cs_off, &v, 2);
    if (inject(pp, s, slen) < 0) return -1;
    pp->gso_segments++;
  }
  return 0;
bad:
  errno = EPROTONOSUPPORT;
  return -1;
}

/* ---------- pcapSendBatch ------------------------------------------------------------------------ */

/* pcapSendBatch(h, pool, slotSize, ids, off, n, start, len) -> accepted */
static napi_value PcapSendBatch(napi_env env, napi_callback_info info) {
  PGET_ARGS(8);
  pport_t *pp = phandle(env, I, argv[0]);
  uint8_t *pool; uint32_t *ids, *st, *ln; size_t pool_len, ids_len, st_len, ln_len;
  uint32_t slot_size, off, n;
  if (!pp || !pta(env, argv[1], napi_uint8_array, (void **)&pool, &pool_len, "pool") ||
      !pu32(env, argv[2], &slot_size, "slotSize") ||
      !pta(env, argv[3], napi_uint32_array, (void **)&ids, &ids_len, "ids") ||
      !pu32(env, argv[4], &off, "off") || !pu32(env, argv[5], &n, "n") ||
      !pta(env, argv[6], napi_uint32_array, (void **)&st, &st_len, "start") ||
      !pta(env, argv[7], napi_uint32_array, (void **)&ln, &ln_len, "len")) return NULL;
  if (slot_size == 0) return prange(env, "slotSize must be > 0");
  if ((uint64_t)off + n > ids_len) return prange(env, "off + n > ids.length");
  uint64_t slots = pool_len / slot_size;
  if (st_len < slots) slots = st_len;
  if (ln_len < slots) slots = ln_len;
  uint32_t accepted = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t id = ids[off + i];
    if (id >= slots || (uint64_t)st[id] + ln[id] > slot_size || ln[id] < 14 || st[id] < VNET_HDR_LEN) {
      pp->send_errors++; continue;
    }
    const uint8_t *slot = pool + (size_t)id * slot_size, *f = slot + st[id];
    uint16_t cstart, coff; memcpy(&cstart, slot + 6, 2); memcpy(&coff, slot + 8, 2);
    int r;
    if (slot[1] != GSO_NONE) r = send_gso(I, pp, f, ln[id], slot);
    else if (slot[0] & F_NEEDS_CSUM) r = send_csum(I, pp, f, ln[id], cstart, coff);
    else r = inject(pp, f, ln[id]);
    if (r == 0) { accepted++; continue; }
    int e = errno;
    pp->send_errors++;
    if (busy(e)) {                      /* a full queue: the rest would fail too (no retry, as sendBatch) */
      pp->send_busy++;
      pp->send_errors += n - i - 1;
      break;
    }
  }
  return pnum(env, accepted);
}

/* ---------- pcapStats ---------------------------------------------------------------------------- */

static void pset(napi_env env, napi_value o, const char *k, double d) { napi_set_named_property(env, o, k, pnum(env, d)); }

static napi_value PcapStats(napi_env env, napi_callback_info info) {
  PGET_ARGS(1);
  pport_t *pp = phandle(env, I, argv[0]);
  if (!pp) return NULL;
  struct pcap_stat ps; memset(&ps, 0, sizeof ps);
  /* libpcap keeps these since open (it accumulates the kernel's reset-on-read counters itself) */
  if (pcap_stats(pp->p, &ps) != 0) memset(&ps, 0, sizeof ps);
  napi_value o; napi_create_object(env, &o);
  pset(env, o, "kernelPackets", ps.ps_recv);
  pset(env, o, "kernelDrops", ps.ps_drop);
  pset(env, o, "interfaceDrops", ps.ps_ifdrop);
  pset(env, o, "truncated", (double)pp->truncated);
  pset(env, o, "sendErrors", (double)pp->send_errors);
  pset(env, o, "sendBusy", (double)pp->send_busy);
  pset(env, o, "tunnelGso", 0);   /* the AF_PACKET backend's tunnel-TAP sends; none here */
  pset(env, o, "checksumsCompleted", (double)pp->csum_done);
  pset(env, o, "gsoFrames", (double)pp->gso_frames);
  pset(env, o, "gsoSegments", (double)pp->gso_segments);
  return o;
}

static napi_value PcapVersion(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value s; napi_create_string_utf8(env, pcap_lib_version(), NAPI_AUTO_LENGTH, &s); return s;
}

/* ---------- registration ------------------------------------------------------------------------- */

static void pcap_cleanup(void *arg) {
  pinst_t *I = arg;
  for (int i = 0; i < PCAP_MAX_HANDLES; i++) if (I->h[i].p) pclose_port(&I->h[i]);
  free(I);
}

/* Called from xvs_native.c's NAPI_MODULE_INIT: adds the pcap* functions to `exports`. 0 on success. */
int xvs_pcap_register(napi_env env, napi_value exports) {
  pinst_t *I = calloc(1, sizeof *I);
  if (!I) return -1;
  for (int i = 0; i < PCAP_MAX_HANDLES; i++) I->h[i].fd = -1;
  if (napi_add_env_cleanup_hook(env, pcap_cleanup, I) != napi_ok) { free(I); return -1; }
#define PFN(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_enumerable, I }
  napi_property_descriptor props[] = {
    PFN("pcapOpen", PcapOpen), PFN("pcapClose", PcapClose), PFN("pcapFd", PcapFd),
    PFN("pcapRecvBatch", PcapRecvBatch), PFN("pcapSendBatch", PcapSendBatch), PFN("pcapStats", PcapStats),
    PFN("pcapVersion", PcapVersion),
  };
#undef PFN
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props) == napi_ok ? 0 : -1;
}
