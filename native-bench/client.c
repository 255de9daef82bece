/*
 * The native client: the baseline that shows a server's own ceiling.
 *
 * A Node client spends about as much CPU per connection as the server it measures, so on a
 * 2-core machine it caps the figure it is meant to record. This client uses one thread and one
 * epoll set, and has two modes:
 *
 *   --mode handshake (default): keep `concurrency` connections in flight, each doing
 *     connect (from one of several 127.0.0.x source addresses) -> send hello -> read frames
 *     until the `--until` frame type (`welcome` or `hosts`) -> close;
 *     then print one JSON object: count, errors by kind, elapsed, rate, latency, own CPU.
 *
 *   --protocol nats (handshake mode only): the same loop against a NATS server, whose
 *     comparable handshake is: read the server's INFO line -> send CONNECT {} + PING -> read
 *     until PONG -> close (no hello template needed). The peer in the handshake benchmark.
 *
 *   --mode hold: `count` agents that stay connected, driven by one command per stdin line,
 *     each answered by one JSON line on stdout:
 *       up [END]        connect every agent that is down (`concurrency` in flight, retrying a
 *                       failed attempt up to 10 times), each handshake ending at END
 *                       (welcome or hosts; default --until); answers once all are up or lost
 *       mark NS         zero the counters; later latencies count from NS (CLOCK_MONOTONIC ns,
 *                       which is what Node's process.hrtime.bigint() reads)
 *       wait-dropped K  answer once K established connections were closed by the server
 *       wait-acked K    answer once K `hosts` frames were acked
 *       stats           answer at once
 *       close           close everything, answer, exit
 *     A held agent acks every `hosts` (with its seq) and answers every ping, like an agent.
 *     It speaks protocol version 2 (the hello the Node side encodes says so) and answers
 *     every `call` at once with one `result` (protocol.md 4.4): `agentlb.ping` -> ok "pong",
 *     any other method -> unknown_method. It counts calls per agent since the mark, so
 *     `stats` says how many agents were called once and how many more than once (a fan-out
 *     must call each exactly once), and the `cancel` frames received.
 *
 * The hello frames are encoded by the Node side (one codec for the whole project) and passed
 * in as hex; this client only writes each agent's index as fixed-width decimal digits at
 * `guid-offset`. `--rehello-hex` is the hello an agent sends once it has received a list
 * (the list the server gave), so a reconnect is up to date, as a real agent's is. Incoming
 * frames are parsed just enough to read `type` and `seq` (a minimal msgpack walker).
 *
 * Built by native-bench/native-client.ts with the machine's gcc into native-bench/out/.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_FRAME 65536
#define MAX_SOURCES 64
#define HANDSHAKE_BUFFER (MAX_FRAME + 4)
#define HOLD_BUFFER 2048
#define HOLD_MAX_ATTEMPTS 10

enum failure { F_CONNECT, F_TIMEOUT, F_CLOSED, F_ERROR_FRAME, F_BAD_FRAME, F_IO, F_KINDS };
static const char *failure_names[F_KINDS] = {"connect", "timeout", "closed", "errorFrame", "badFrame", "io"};

struct template {
  unsigned char *bytes;
  size_t len, guid_offset;
};

struct options {
  int hold;
  int nats;
  struct in_addr target;
  uint16_t port;
  uint32_t count;
  uint32_t concurrency;
  struct in_addr sources[MAX_SOURCES];
  int source_count;
  struct template hello, rehello;
  size_t guid_width;
  uint64_t guid_base;
  char until[16];
  uint64_t timeout_ns;
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *message) {
  fprintf(stderr, "client: %s\n", message);
  exit(2);
}

static void *must(void *p) {
  if (!p) die("out of memory");
  return p;
}

/* ---- options ---- */

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void parse_hex(const char *hex, struct template *t, const char *flag) {
  size_t len = strlen(hex);
  if (len == 0 || len % 2 != 0) {
    fprintf(stderr, "client: %s must be a non-empty even-length hex string\n", flag);
    exit(2);
  }
  t->len = len / 2;
  t->bytes = must(malloc(t->len));
  for (size_t i = 0; i < t->len; i++) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      fprintf(stderr, "client: %s holds a non-hex character\n", flag);
      exit(2);
    }
    t->bytes[i] = (unsigned char)(hi * 16 + lo);
  }
}

static void parse_sources(char *list, struct options *o) {
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    if (o->source_count == MAX_SOURCES) die("too many --sources (at most 64)");
    if (inet_pton(AF_INET, tok, &o->sources[o->source_count]) != 1) die("--sources holds a bad IPv4 address");
    o->source_count++;
  }
}

static uint64_t parse_number(const char *text, const char *flag) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno || *end || end == text) {
    fprintf(stderr, "client: %s needs a non-negative integer, got \"%s\"\n", flag, text);
    exit(2);
  }
  return v;
}

static void parse_options(int argc, char **argv, struct options *o) {
  static struct option long_options[] = {
      {"mode", required_argument, 0, 'm'},          {"host", required_argument, 0, 'h'},
      {"port", required_argument, 0, 'p'},          {"count", required_argument, 0, 'n'},
      {"concurrency", required_argument, 0, 'c'},   {"sources", required_argument, 0, 's'},
      {"hello-hex", required_argument, 0, 'x'},     {"guid-offset", required_argument, 0, 'o'},
      {"rehello-hex", required_argument, 0, 'X'},   {"rehello-guid-offset", required_argument, 0, 'O'},
      {"guid-width", required_argument, 0, 'w'},    {"guid-base", required_argument, 0, 'b'},
      {"until", required_argument, 0, 'u'},         {"timeout-ms", required_argument, 0, 't'},
      {"protocol", required_argument, 0, 'P'},      {0, 0, 0, 0}};
  memset(o, 0, sizeof *o);
  inet_pton(AF_INET, "127.0.0.1", &o->target);
  o->concurrency = 100;
  o->timeout_ns = 10000ull * 1000000ull;
  strcpy(o->until, "welcome");
  int c;
  while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
    switch (c) {
      case 'm':
        if (strcmp(optarg, "hold") == 0) o->hold = 1;
        else if (strcmp(optarg, "handshake") != 0) die("--mode must be handshake or hold");
        break;
      case 'h':
        if (inet_pton(AF_INET, optarg, &o->target) != 1) die("--host must be an IPv4 address");
        break;
      case 'p': o->port = (uint16_t)parse_number(optarg, "--port"); break;
      case 'n': o->count = (uint32_t)parse_number(optarg, "--count"); break;
      case 'c': o->concurrency = (uint32_t)parse_number(optarg, "--concurrency"); break;
      case 's': parse_sources(optarg, o); break;
      case 'x': parse_hex(optarg, &o->hello, "--hello-hex"); break;
      case 'o': o->hello.guid_offset = parse_number(optarg, "--guid-offset"); break;
      case 'X': parse_hex(optarg, &o->rehello, "--rehello-hex"); break;
      case 'O': o->rehello.guid_offset = parse_number(optarg, "--rehello-guid-offset"); break;
      case 'w': o->guid_width = parse_number(optarg, "--guid-width"); break;
      case 'b': o->guid_base = parse_number(optarg, "--guid-base"); break;
      case 'u':
        if (strcmp(optarg, "welcome") != 0 && strcmp(optarg, "hosts") != 0) die("--until must be welcome or hosts");
        strcpy(o->until, optarg);
        break;
      case 't': o->timeout_ns = parse_number(optarg, "--timeout-ms") * 1000000ull; break;
      case 'P':
        if (strcmp(optarg, "nats") == 0) o->nats = 1;
        else if (strcmp(optarg, "agentlb") != 0) die("--protocol must be agentlb or nats");
        break;
      default: die("unknown option (see the header of client.c)");
    }
  }
  if (optind != argc) die("unexpected positional argument");
  if (o->port == 0) die("--port is required");
  if (o->nats) {
    if (o->hold) die("--protocol nats is for --mode handshake only");
    if (o->source_count == 0) o->sources[o->source_count++] = o->target;
    return; /* no hello template: the NATS handshake is fixed text */
  }
  if (!o->hello.bytes) die("--hello-hex is required");
  if (o->concurrency == 0) die("--concurrency must be at least 1");
  if (o->guid_width == 0 || o->guid_width > 20) die("--guid-width must be 1..20");
  if (o->hello.guid_offset + o->guid_width > o->hello.len) die("--guid-offset/--guid-width fall outside the hello frame");
  if (!o->rehello.bytes) o->rehello = o->hello;
  if (o->rehello.guid_offset + o->guid_width > o->rehello.len) die("--rehello-guid-offset falls outside the rehello frame");
  if (o->source_count == 0) o->sources[o->source_count++] = o->target;
}

/* ---- minimal msgpack: skip a value, find a key in the payload's top-level map ---- */

static int need(size_t pos, size_t n, size_t len) { return pos + n <= len; }

static uint64_t be(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

/* Returns the position after the value at `pos`, or 0 when the bytes are not valid msgpack. */
static size_t skip_value(const unsigned char *p, size_t pos, size_t len, int depth) {
  if (depth > 16 || !need(pos, 1, len)) return 0;
  unsigned char b = p[pos++];
  uint64_t n = 0, items = 0;
  if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return pos;
  if ((b & 0xe0) == 0xa0) n = b & 0x1f;
  else if ((b & 0xf0) == 0x90) items = b & 0x0f;
  else if ((b & 0xf0) == 0x80) items = 2u * (b & 0x0f);
  else switch (b) {
      case 0xcc: case 0xd0: n = 1; break;
      case 0xcd: case 0xd1: n = 2; break;
      case 0xca: case 0xce: case 0xd2: n = 4; break;
      case 0xcb: case 0xcf: case 0xd3: n = 8; break;
      case 0xd9: case 0xc4: if (!need(pos, 1, len)) return 0; n = p[pos]; pos += 1; break;
      case 0xda: case 0xc5: if (!need(pos, 2, len)) return 0; n = be(p + pos, 2); pos += 2; break;
      case 0xdb: case 0xc6: if (!need(pos, 4, len)) return 0; n = be(p + pos, 4); pos += 4; break;
      case 0xdc: if (!need(pos, 2, len)) return 0; items = be(p + pos, 2); pos += 2; break;
      case 0xdd: if (!need(pos, 4, len)) return 0; items = be(p + pos, 4); pos += 4; break;
      case 0xde: if (!need(pos, 2, len)) return 0; items = 2u * be(p + pos, 2); pos += 2; break;
      case 0xdf: if (!need(pos, 4, len)) return 0; items = 2u * be(p + pos, 4); pos += 4; break;
      default: return 0; /* extensions: never sent by a conforming server */
    }
  if (!need(pos, n, len)) return 0;
  pos += n;
  for (uint64_t i = 0; i < items; i++) {
    pos = skip_value(p, pos, len, depth + 1);
    if (pos == 0) return 0;
  }
  return pos;
}

/* Reads a str at `pos`; sets *start and *slen. Returns 0 when the value is not a string. */
static int read_str(const unsigned char *p, size_t pos, size_t len, size_t *start, size_t *slen) {
  if (!need(pos, 1, len)) return 0;
  unsigned char b = p[pos];
  if ((b & 0xe0) == 0xa0) { *slen = b & 0x1f; *start = pos + 1; }
  else if (b == 0xd9 && need(pos, 2, len)) { *slen = p[pos + 1]; *start = pos + 2; }
  else if (b == 0xda && need(pos, 3, len)) { *slen = be(p + pos + 1, 2); *start = pos + 3; }
  else return 0;
  return need(*start, *slen, len);
}

/* The position of the value of `key` in the payload's top-level map, or 0. */
static size_t map_find(const unsigned char *p, size_t len, const char *key) {
  if (len == 0) return 0;
  size_t pos = 1, klen_want = strlen(key);
  uint64_t pairs;
  if ((p[0] & 0xf0) == 0x80) pairs = p[0] & 0x0f;
  else if (p[0] == 0xde && len >= 3) { pairs = be(p + 1, 2); pos = 3; }
  else return 0;
  for (uint64_t i = 0; i < pairs; i++) {
    size_t kstart, klen;
    if (!read_str(p, pos, len, &kstart, &klen)) return 0;
    pos = kstart + klen;
    if (klen == klen_want && memcmp(p + kstart, key, klen) == 0) return pos;
    pos = skip_value(p, pos, len, 0);
    if (pos == 0) return 0;
  }
  return 0;
}

/* Copies the string `key` into `out`; returns 0 when there is none (or it does not fit). */
static int frame_str(const unsigned char *p, size_t len, const char *key, char *out, size_t out_size) {
  size_t pos = map_find(p, len, key), start, slen;
  if (pos == 0 || !read_str(p, pos, len, &start, &slen) || slen >= out_size) return 0;
  memcpy(out, p + start, slen);
  out[slen] = 0;
  return 1;
}

static int frame_type(const unsigned char *p, size_t len, char *out, size_t out_size) {
  return frame_str(p, len, "type", out, out_size);
}

/* Reads the unsigned integer `key` (an integral float 64 too); returns 0 when absent or not an unsigned integer. */
static int frame_uint(const unsigned char *p, size_t len, const char *key, uint64_t *out) {
  size_t pos = map_find(p, len, key);
  if (pos == 0 || !need(pos, 1, len)) return 0;
  unsigned char b = p[pos];
  if (b <= 0x7f) { *out = b; return 1; }
  if (b == 0xcb && need(pos + 1, 8, len)) {
    /* protocol.md section 3: JavaScript encoders write integers above 2^32 as float 64. */
    uint64_t bits = be(p + pos + 1, 8);
    double d;
    memcpy(&d, &bits, sizeof d);
    if (!(d >= 0 && d <= 9007199254740991.0) || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
  }
  int width = b == 0xcc ? 1 : b == 0xcd ? 2 : b == 0xce ? 4 : b == 0xcf ? 8 : 0;
  if (width == 0 || !need(pos + 1, (size_t)width, len)) return 0;
  *out = be(p + pos + 1, width);
  return 1;
}

/* The frame at the start of `buf`: 1 when complete (*payload_len set), 0 when more bytes are needed, -1 when its length is bad. */
static int next_frame(const unsigned char *buf, uint32_t have, uint32_t cap, uint32_t *payload_len) {
  if (have < 4) return 0;
  uint32_t l = (uint32_t)be(buf, 4);
  if (l == 0 || l > MAX_FRAME || l + 4 > cap) return -1;
  if (have - 4 < l) return 0;
  *payload_len = l;
  return 1;
}

/* What read_frames() stopped on. */
enum read_end { R_AGAIN, R_STOPPED, R_CLOSED, R_IO, R_BAD_FRAME };

/* Handles one frame's payload; returns 0 when the connection ended (stop reading). */
typedef int (*frame_fn)(void *ctx, const unsigned char *payload, uint32_t len);

/* Reads all the socket holds, hands each complete frame to `fn`, keeps a partial one in buf. */
static enum read_end read_frames(int fd, unsigned char *buf, uint32_t *have, uint32_t cap, frame_fn fn, void *ctx) {
  for (;;) {
    ssize_t n = recv(fd, buf + *have, cap - *have, 0);
    if (n == 0) return R_CLOSED;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return R_AGAIN;
      if (errno == EINTR) continue;
      return errno == ECONNRESET ? R_CLOSED : R_IO;
    }
    *have += (uint32_t)n;
    uint32_t pos = 0, len;
    int got;
    while ((got = next_frame(buf + pos, *have - pos, cap, &len)) == 1) {
      if (!fn(ctx, buf + pos + 4, len)) return R_STOPPED;
      pos += 4 + len;
    }
    if (got < 0) return R_BAD_FRAME;
    memmove(buf, buf + pos, *have - pos);
    *have -= pos;
  }
}

static enum failure read_failure(enum read_end end) {
  return end == R_CLOSED ? F_CLOSED : end == R_BAD_FRAME ? F_BAD_FRAME : F_IO;
}

/* ---- latency samples (µs) ---- */

struct samples {
  uint32_t *v;
  size_t n, cap;
};

static void sample(struct samples *s, uint64_t ns) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 1024;
    s->v = must(realloc(s->v, s->cap * sizeof *s->v));
  }
  uint64_t us = ns / 1000;
  s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int compare_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

static double percentile_ms(const struct samples *s, double p) {
  if (s->n == 0) return 0;
  size_t rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > s->n) rank = s->n;
  return s->v[rank - 1] / 1000.0;
}

static void print_latency(const char *name, struct samples *s) {
  qsort(s->v, s->n, sizeof(uint32_t), compare_u32);
  double sum = 0;
  for (size_t i = 0; i < s->n; i++) sum += s->v[i];
  printf("\"%s\":{\"count\":%zu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f}", name, s->n,
         percentile_ms(s, 50), percentile_ms(s, 90), percentile_ms(s, 99), percentile_ms(s, 100),
         s->n ? sum / (double)s->n / 1000.0 : 0.0);
}

static void print_failures(const uint32_t *failures) {
  printf("\"errorKinds\":{");
  for (int k = 0; k < F_KINDS; k++) printf("%s\"%s\":%u", k ? "," : "", failure_names[k], failures[k]);
  printf("}");
}

static void print_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("\"cpuMs\":{\"user\":%.1f,\"system\":%.1f}", ru.ru_utime.tv_sec * 1000.0 + ru.ru_utime.tv_usec / 1000.0,
         ru.ru_stime.tv_sec * 1000.0 + ru.ru_stime.tv_usec / 1000.0);
}

/* ---- sockets ---- */

static void write_guid(unsigned char *dst, size_t width, uint64_t value) {
  for (size_t i = width; i-- > 0;) {
    dst[i] = (unsigned char)('0' + value % 10);
    value /= 10;
  }
}

/* A non-blocking socket bound to the agent's source address, connecting; -1 on failure. */
static int open_socket(const struct options *o, uint32_t index) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  /* Let connect() pick the port for the full 4-tuple, so each source address has its own
   * ephemeral range instead of bind() reserving a port across every destination. */
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
  src.sin_addr = o->sources[index % (uint32_t)o->source_count];
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(o->port), .sin_addr = o->target};
  if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0 ||
      (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS)) {
    close(fd);
    return -1;
  }
  return fd;
}

static int connect_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0;
}

/* Sends a patched hello; a hello is far below the socket buffer, so one send() takes it whole. */
static int send_hello(const struct options *o, struct template *t, int fd, uint32_t index) {
  write_guid(t->bytes + t->guid_offset, o->guid_width, o->guid_base + index);
  return send(fd, t->bytes, t->len, MSG_NOSIGNAL) == (ssize_t)t->len;
}

/* ================= handshake mode ================= */

enum hs_state { S_FREE, S_CONNECTING, S_READING };

struct slot {
  int fd;
  enum hs_state state;
  int nats_connected; /* nats: CONNECT + PING sent, waiting for PONG */
  uint32_t index;
  uint64_t started_ns;
  uint32_t have;
  unsigned char *buf;
};

struct hs_run {
  struct options *o;
  int epfd;
  struct slot *slots;
  uint32_t next_index, done, ok;
  uint32_t failures[F_KINDS];
  struct samples latency;
};

static void hs_release(struct hs_run *r, struct slot *s) {
  if (s->fd >= 0) close(s->fd); /* close() also removes it from the epoll set */
  s->fd = -1;
  s->state = S_FREE;
  s->have = 0;
  r->done++;
}

static void hs_fail(struct hs_run *r, struct slot *s, enum failure kind) {
  r->failures[kind]++;
  hs_release(r, s);
}

static void hs_start(struct hs_run *r, struct slot *s) {
  if (r->next_index >= r->o->count) return;
  s->index = r->next_index++;
  s->started_ns = now_ns();
  s->have = 0;
  s->nats_connected = 0;
  s->fd = open_socket(r->o, s->index);
  if (s->fd < 0) { hs_fail(r, s, F_CONNECT); return; }
  s->state = S_CONNECTING;
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = s};
  if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) hs_fail(r, s, F_IO);
}

static void hs_writable(struct hs_run *r, struct slot *s) {
  if (connect_error(s->fd)) { hs_fail(r, s, F_CONNECT); return; }
  /* NATS: the server speaks first (INFO); agentlb: the agent does (hello). */
  if (!r->o->nats && !send_hello(r->o, &r->o->hello, s->fd, s->index)) { hs_fail(r, s, F_IO); return; }
  s->state = S_READING;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = s};
  if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, s->fd, &ev) < 0) hs_fail(r, s, F_IO);
}

struct hs_frame_ctx {
  struct hs_run *r;
  struct slot *s;
};

static int hs_frame(void *ctx, const unsigned char *payload, uint32_t len) {
  struct hs_run *r = ((struct hs_frame_ctx *)ctx)->r;
  struct slot *s = ((struct hs_frame_ctx *)ctx)->s;
  char type[16];
  if (!frame_type(payload, len, type, sizeof type)) { hs_fail(r, s, F_BAD_FRAME); return 0; }
  if (strcmp(type, "error") == 0) { hs_fail(r, s, F_ERROR_FRAME); return 0; }
  if (strcmp(type, r->o->until) != 0) return 1;
  sample(&r->latency, now_ns() - s->started_ns);
  r->ok++;
  hs_release(r, s);
  return 0;
}

static const char NATS_CONNECT[] = "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"bench\"}\r\nPING\r\n";

/* NATS: lines ending in CRLF; INFO -> send CONNECT + PING; PONG -> done; -ERR -> error. */
static void nats_readable(struct hs_run *r, struct slot *s) {
  for (;;) {
    ssize_t n = recv(s->fd, s->buf + s->have, HANDSHAKE_BUFFER - s->have, 0);
    if (n == 0) { hs_fail(r, s, F_CLOSED); return; }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      hs_fail(r, s, errno == ECONNRESET ? F_CLOSED : F_IO);
      return;
    }
    s->have += (uint32_t)n;
    uint32_t pos = 0;
    for (;;) {
      unsigned char *crlf = memmem(s->buf + pos, s->have - pos, "\r\n", 2);
      if (!crlf) break;
      size_t len = (size_t)(crlf - (s->buf + pos));
      const char *line = (const char *)s->buf + pos;
      pos += (uint32_t)len + 2;
      if (len >= 4 && memcmp(line, "-ERR", 4) == 0) { hs_fail(r, s, F_ERROR_FRAME); return; }
      if (!s->nats_connected && len >= 5 && memcmp(line, "INFO ", 5) == 0) {
        if (send(s->fd, NATS_CONNECT, sizeof NATS_CONNECT - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof NATS_CONNECT - 1)) { hs_fail(r, s, F_IO); return; }
        s->nats_connected = 1;
      } else if (s->nats_connected && len == 4 && memcmp(line, "PONG", 4) == 0) {
        sample(&r->latency, now_ns() - s->started_ns);
        r->ok++;
        hs_release(r, s);
        return;
      }
      /* +OK and anything else before PONG: walked past */
    }
    if (pos == 0 && s->have == HANDSHAKE_BUFFER) { hs_fail(r, s, F_BAD_FRAME); return; }
    memmove(s->buf, s->buf + pos, s->have - pos);
    s->have -= pos;
  }
}

static void hs_readable(struct hs_run *r, struct slot *s) {
  if (r->o->nats) {
    nats_readable(r, s);
    return;
  }
  struct hs_frame_ctx ctx = {r, s};
  enum read_end end = read_frames(s->fd, s->buf, &s->have, HANDSHAKE_BUFFER, hs_frame, &ctx);
  if (end != R_AGAIN && end != R_STOPPED) hs_fail(r, s, read_failure(end));
}

static void hs_expire(struct hs_run *r, uint64_t now) {
  for (uint32_t i = 0; i < r->o->concurrency; i++) {
    struct slot *s = &r->slots[i];
    if (s->state != S_FREE && now - s->started_ns > r->o->timeout_ns) {
      hs_fail(r, s, F_TIMEOUT);
      hs_start(r, s);
    }
  }
}

static int run_handshakes(struct options *o) {
  struct hs_run r = {.o = o};
  r.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (r.epfd < 0) die("epoll_create1 failed");
  r.slots = must(calloc(o->concurrency, sizeof *r.slots));
  for (uint32_t i = 0; i < o->concurrency; i++) {
    r.slots[i].fd = -1;
    r.slots[i].buf = must(malloc(HANDSHAKE_BUFFER));
  }
  uint64_t began = now_ns(), last_expiry = began;
  for (uint32_t i = 0; i < o->concurrency; i++) hs_start(&r, &r.slots[i]);
  struct epoll_event events[256];
  while (r.done < o->count) {
    int n = epoll_wait(r.epfd, events, 256, 50);
    if (n < 0 && errno != EINTR) die("epoll_wait failed");
    for (int i = 0; i < n; i++) {
      struct slot *s = events[i].data.ptr;
      /* A slot freed and restarted earlier in this batch carries a new fd: its old event is stale. */
      if (s->state == S_CONNECTING && (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) hs_writable(&r, s);
      else if (s->state == S_READING) hs_readable(&r, s);
      if (s->state == S_FREE) hs_start(&r, s);
    }
    uint64_t now = now_ns();
    if (now - last_expiry > 50000000ull) {
      hs_expire(&r, now);
      last_expiry = now;
    }
  }
  double elapsed_ms = (double)(now_ns() - began) / 1e6;
  uint32_t errors = 0;
  for (int k = 0; k < F_KINDS; k++) errors += r.failures[k];
  printf("{\"count\":%u,\"ok\":%u,\"errors\":%u,", o->count, r.ok, errors);
  print_failures(r.failures);
  printf(",\"elapsedMs\":%.3f,\"rate\":%.1f,", elapsed_ms, elapsed_ms > 0 ? r.ok * 1000.0 / elapsed_ms : 0.0);
  print_latency("latencyMs", &r.latency);
  printf(",");
  print_cpu();
  printf("}\n");
  return 0;
}

/* ================= hold mode ================= */

enum agent_state { A_DOWN, A_QUEUED, A_CONNECTING, A_HANDSHAKING, A_UP, A_RETRY };

struct agent {
  int fd;
  uint8_t state;
  uint8_t welcomed;
  uint8_t attempts;
  uint8_t has_list; /* got a list once: reconnects send the up-to-date rehello */
  uint16_t calls;   /* `call` frames received since the mark: a fan-out must make this 1 */
  uint32_t have;
  uint64_t started_ns; /* or, in A_RETRY, when to retry */
  unsigned char buf[HOLD_BUFFER];
};

enum command { C_NONE, C_UP, C_WAIT_DROPPED, C_WAIT_ACKED };

struct hold {
  struct options *o;
  int epfd;
  struct agent *agents;
  uint32_t *queue; /* ring of agent indexes waiting for a concurrency slot */
  uint32_t q_head, q_len, inflight;
  /* counters since the last mark */
  uint32_t attempts, completed, welcomed, hosts_received, acked, dropped, lost;
  uint32_t calls, results, cancels, ping_calls;
  uint64_t last_result_ns;
  uint32_t failures[F_KINDS];
  uint64_t mark_ns, last_completed_ns, last_ack_ns;
  struct samples handshake, hosts_since_mark;
  /* the command being answered */
  enum command pending;
  uint64_t want;
  uint32_t batch, settled;
  char line[256];
  size_t line_len;
};

static const unsigned char PONG[] = {0, 0, 0, 11, 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa4, 'p', 'o', 'n', 'g'};

static int send_all(int fd, const unsigned char *bytes, size_t len) {
  return send(fd, bytes, len, MSG_NOSIGNAL) == (ssize_t)len;
}

/* Appends `v` as a msgpack unsigned integer in its smallest form; returns the new length. */
static size_t put_uint(unsigned char *f, size_t n, uint64_t v) {
  if (v <= 0x7f) f[n++] = (unsigned char)v;
  else if (v <= 0xff) { f[n++] = 0xcc; f[n++] = (unsigned char)v; }
  else if (v <= 0xffff) { f[n++] = 0xcd; f[n++] = (unsigned char)(v >> 8); f[n++] = (unsigned char)v; }
  else if (v <= 0xffffffffull) {
    f[n++] = 0xce;
    for (int i = 3; i >= 0; i--) f[n++] = (unsigned char)(v >> (8 * i));
  } else {
    f[n++] = 0xcf;
    for (int i = 7; i >= 0; i--) f[n++] = (unsigned char)(v >> (8 * i));
  }
  return n;
}

static size_t put_bytes(unsigned char *f, size_t n, const unsigned char *bytes, size_t len) {
  memcpy(f + n, bytes, len);
  return n + len;
}

/* Writes the 4-byte length of the payload after it, and sends the frame. */
static int send_framed(int fd, unsigned char *f, size_t n) {
  uint32_t payload = (uint32_t)(n - 4);
  f[0] = (unsigned char)(payload >> 24); f[1] = (unsigned char)(payload >> 16);
  f[2] = (unsigned char)(payload >> 8); f[3] = (unsigned char)payload;
  return send_all(fd, f, n);
}

/* {type: 'ack', seq, ok: true}, framed. */
static int send_ack(int fd, uint64_t seq) {
  unsigned char f[32];
  static const unsigned char head[] = {0x83, 0xa4, 't', 'y', 'p', 'e', 0xa3, 'a', 'c', 'k', 0xa3, 's', 'e', 'q'};
  static const unsigned char tail[] = {0xa2, 'o', 'k', 0xc3};
  size_t n = put_bytes(f, 4, head, sizeof head);
  n = put_uint(f, n, seq);
  n = put_bytes(f, n, tail, sizeof tail);
  return send_framed(fd, f, n);
}

/*
 * The result of call `id` (protocol.md 4.4, keys in the table's order): the built-in
 * agentlb.ping answers {ok: true, value: "pong"} as the real agent does; any other method is
 * {ok: false, error: {code: "unknown_method", message}} (this client runs no handlers).
 */
static int send_result(int fd, uint64_t id, int is_ping) {
  unsigned char f[96];
  static const unsigned char head[] = {0x84, 0xa4, 't', 'y', 'p', 'e', 0xa6, 'r', 'e', 's', 'u', 'l', 't', 0xa2, 'i', 'd'};
  static const unsigned char pong[] = {0xa2, 'o', 'k', 0xc3, 0xa5, 'v', 'a', 'l', 'u', 'e', 0xa4, 'p', 'o', 'n', 'g'};
  static const unsigned char unknown[] = {0xa2, 'o', 'k', 0xc2, 0xa5, 'e', 'r', 'r', 'o', 'r', 0x82,
                                          0xa4, 'c', 'o', 'd', 'e', 0xae, 'u', 'n', 'k', 'n', 'o', 'w', 'n', '_', 'm', 'e', 't', 'h', 'o', 'd',
                                          0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xae, 'n', 'o', ' ', 's', 'u', 'c', 'h', ' ', 'm', 'e', 't', 'h', 'o', 'd'};
  size_t n = put_bytes(f, 4, head, sizeof head);
  n = put_uint(f, n, id);
  n = is_ping ? put_bytes(f, n, pong, sizeof pong) : put_bytes(f, n, unknown, sizeof unknown);
  return send_framed(fd, f, n);
}

static void enqueue(struct hold *h, uint32_t i) {
  h->agents[i].state = A_QUEUED;
  h->queue[(h->q_head + h->q_len++) % h->o->count] = i;
}

static void close_agent(struct agent *a) {
  if (a->fd >= 0) close(a->fd);
  a->fd = -1;
  a->have = 0;
}

/* The attempt in flight ended without a handshake: retry shortly, or give the agent up. */
static void attempt_failed(struct hold *h, uint32_t i, enum failure kind) {
  struct agent *a = &h->agents[i];
  h->failures[kind]++;
  h->inflight--;
  close_agent(a);
  if (a->attempts < HOLD_MAX_ATTEMPTS) {
    a->state = A_RETRY;
    a->started_ns = now_ns() + (20 + (uint64_t)(rand() % 180)) * 1000000ull;
  } else {
    a->state = A_DOWN;
    h->lost++;
    h->settled++;
  }
}

static void start_attempt(struct hold *h, uint32_t i) {
  struct agent *a = &h->agents[i];
  a->attempts++;
  a->welcomed = 0;
  a->have = 0;
  a->started_ns = now_ns();
  h->attempts++;
  h->inflight++;
  a->state = A_CONNECTING;
  a->fd = open_socket(h->o, i);
  if (a->fd < 0) { attempt_failed(h, i, F_CONNECT); return; }
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
  if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, a->fd, &ev) < 0) attempt_failed(h, i, F_IO);
}

static void pump(struct hold *h) {
  while (h->inflight < h->o->concurrency && h->q_len > 0) {
    uint32_t i = h->queue[h->q_head];
    h->q_head = (h->q_head + 1) % h->o->count;
    h->q_len--;
    start_attempt(h, i);
  }
}

static void handshake_done(struct hold *h, uint32_t i) {
  struct agent *a = &h->agents[i];
  uint64_t now = now_ns();
  sample(&h->handshake, now - a->started_ns);
  h->completed++;
  h->last_completed_ns = now;
  h->inflight--;
  h->settled++;
  a->state = A_UP;
}

/* Handles one frame; returns 0 when the agent's connection ended. */
static int on_frame(struct hold *h, uint32_t i, const unsigned char *p, uint32_t len) {
  struct agent *a = &h->agents[i];
  char type[16];
  int handshaking = a->state == A_HANDSHAKING;
  if (!frame_type(p, len, type, sizeof type)) {
    if (handshaking) attempt_failed(h, i, F_BAD_FRAME);
    else { h->failures[F_BAD_FRAME]++; h->dropped++; close_agent(a); a->state = A_DOWN; }
    return 0;
  }
  if (strcmp(type, "error") == 0) {
    /* Established: the server says why it is closing (e.g. shutting_down); the close follows. */
    if (handshaking) { attempt_failed(h, i, F_ERROR_FRAME); return 0; }
    return 1;
  }
  if (strcmp(type, "welcome") == 0) {
    a->welcomed = 1;
    h->welcomed++;
    if (handshaking && strcmp(h->o->until, "welcome") == 0) handshake_done(h, i);
    return 1;
  }
  if (strcmp(type, "hosts") == 0) {
    uint64_t seq = 0;
    frame_uint(p, len, "seq", &seq);
    uint64_t now = now_ns();
    h->hosts_received++;
    if (!handshaking && now > h->mark_ns) sample(&h->hosts_since_mark, now - h->mark_ns);
    a->has_list = 1;
    if (!send_ack(a->fd, seq)) {
      if (handshaking) attempt_failed(h, i, F_IO);
      else { h->failures[F_IO]++; h->dropped++; close_agent(a); a->state = A_DOWN; }
      return 0;
    }
    h->acked++;
    h->last_ack_ns = now_ns();
    if (handshaking && a->welcomed && strcmp(h->o->until, "hosts") == 0) handshake_done(h, i);
    return 1;
  }
  if (strcmp(type, "call") == 0) {
    uint64_t id = 0;
    char method[130];
    /* A call without an id cannot be answered; counted, so the bench sees it. */
    if (!frame_uint(p, len, "id", &id)) { h->failures[F_BAD_FRAME]++; return 1; }
    int is_ping = frame_str(p, len, "method", method, sizeof method) && strcmp(method, "agentlb.ping") == 0;
    h->calls++;
    h->ping_calls += (uint32_t)is_ping;
    if (a->calls < UINT16_MAX) a->calls++;
    if (!send_result(a->fd, id, is_ping)) {
      h->failures[F_IO]++; h->dropped++; close_agent(a); a->state = A_DOWN;
      return 0;
    }
    h->results++;
    h->last_result_ns = now_ns();
    return 1;
  }
  if (strcmp(type, "cancel") == 0) { h->cancels++; return 1; }
  if (strcmp(type, "ping") == 0) send_all(a->fd, PONG, sizeof PONG);
  return 1;
}

static void agent_writable(struct hold *h, uint32_t i) {
  struct agent *a = &h->agents[i];
  if (connect_error(a->fd)) { attempt_failed(h, i, F_CONNECT); return; }
  if (!send_hello(h->o, a->has_list ? &h->o->rehello : &h->o->hello, a->fd, i)) { attempt_failed(h, i, F_IO); return; }
  a->state = A_HANDSHAKING;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = i};
  if (epoll_ctl(h->epfd, EPOLL_CTL_MOD, a->fd, &ev) < 0) attempt_failed(h, i, F_IO);
}

static void agent_closed(struct hold *h, uint32_t i, enum failure kind) {
  struct agent *a = &h->agents[i];
  if (a->state == A_HANDSHAKING) { attempt_failed(h, i, kind); return; }
  h->dropped++;
  close_agent(a);
  a->state = A_DOWN;
}

struct hold_frame_ctx {
  struct hold *h;
  uint32_t i;
};

static int hold_frame(void *ctx, const unsigned char *payload, uint32_t len) {
  struct hold_frame_ctx *c = ctx;
  return on_frame(c->h, c->i, payload, len);
}

static void agent_readable(struct hold *h, uint32_t i) {
  struct hold_frame_ctx ctx = {h, i};
  struct agent *a = &h->agents[i];
  enum read_end end = read_frames(a->fd, a->buf, &a->have, HOLD_BUFFER, hold_frame, &ctx);
  if (end != R_AGAIN && end != R_STOPPED) agent_closed(h, i, read_failure(end));
}

/* Timeouts of attempts in flight, and retries that are due. */
static void hold_timers(struct hold *h, uint64_t now) {
  for (uint32_t i = 0; i < h->o->count; i++) {
    struct agent *a = &h->agents[i];
    if ((a->state == A_CONNECTING || a->state == A_HANDSHAKING) && now - a->started_ns > h->o->timeout_ns) attempt_failed(h, i, F_TIMEOUT);
    else if (a->state == A_RETRY && now >= a->started_ns) enqueue(h, i);
  }
}

static void print_hold_stats(struct hold *h, const char *event) {
  uint32_t up = 0, called_once = 0, called_more = 0;
  for (uint32_t i = 0; i < h->o->count; i++) {
    up += h->agents[i].state == A_UP;
    called_once += h->agents[i].calls == 1;
    called_more += h->agents[i].calls > 1;
  }
  printf("{\"event\":\"%s\",\"up\":%u,\"attempts\":%u,\"completed\":%u,\"welcomed\":%u,\"hostsReceived\":%u,"
         "\"acked\":%u,\"dropped\":%u,\"lost\":%u,",
         event, up, h->attempts, h->completed, h->welcomed, h->hosts_received, h->acked, h->dropped, h->lost);
  printf("\"calls\":%u,\"pingCalls\":%u,\"results\":%u,\"cancels\":%u,\"calledOnce\":%u,\"calledMore\":%u,\"lastResultNs\":\"%llu\",",
         h->calls, h->ping_calls, h->results, h->cancels, called_once, called_more, (unsigned long long)h->last_result_ns);
  print_failures(h->failures);
  printf(",\"lastCompletedNs\":\"%llu\",\"lastAckNs\":\"%llu\",", (unsigned long long)h->last_completed_ns, (unsigned long long)h->last_ack_ns);
  print_latency("handshakeMs", &h->handshake);
  printf(",");
  print_latency("hostsSinceMarkMs", &h->hosts_since_mark);
  printf(",");
  print_cpu();
  printf("}\n");
  fflush(stdout);
}

static void mark(struct hold *h, uint64_t at) {
  h->attempts = h->completed = h->welcomed = h->hosts_received = h->acked = h->dropped = h->lost = 0;
  h->calls = h->results = h->cancels = h->ping_calls = 0;
  h->last_result_ns = 0;
  for (uint32_t i = 0; i < h->o->count; i++) h->agents[i].calls = 0;
  memset(h->failures, 0, sizeof h->failures);
  h->handshake.n = h->hosts_since_mark.n = 0;
  h->mark_ns = at;
  h->last_completed_ns = h->last_ack_ns = 0;
}

/* Answers the pending command once its condition holds. */
static void settle(struct hold *h) {
  if ((h->pending == C_UP && h->settled >= h->batch) || (h->pending == C_WAIT_DROPPED && h->dropped >= h->want) ||
      (h->pending == C_WAIT_ACKED && h->acked >= h->want)) {
    print_hold_stats(h, h->pending == C_UP ? "up" : h->pending == C_WAIT_DROPPED ? "dropped" : "acked");
    h->pending = C_NONE;
  }
}

/* Runs one stdin command; returns 0 on `close`. */
static int command(struct hold *h, char *line) {
  unsigned long long arg = 0;
  if (strcmp(line, "up") == 0 || strcmp(line, "up welcome") == 0 || strcmp(line, "up hosts") == 0) {
    if (line[2] == ' ') strcpy(h->o->until, line + 3);
    h->batch = h->settled = 0;
    for (uint32_t i = 0; i < h->o->count; i++) {
      if (h->agents[i].state != A_DOWN) continue;
      h->agents[i].attempts = 0;
      enqueue(h, i);
      h->batch++;
    }
    h->pending = C_UP;
  } else if (sscanf(line, "mark %llu", &arg) == 1) {
    mark(h, arg);
    print_hold_stats(h, "mark");
  } else if (sscanf(line, "wait-dropped %llu", &arg) == 1) {
    h->pending = C_WAIT_DROPPED;
    h->want = arg;
  } else if (sscanf(line, "wait-acked %llu", &arg) == 1) {
    h->pending = C_WAIT_ACKED;
    h->want = arg;
  } else if (strcmp(line, "stats") == 0) {
    print_hold_stats(h, "stats");
  } else if (strcmp(line, "close") == 0) {
    for (uint32_t i = 0; i < h->o->count; i++) close_agent(&h->agents[i]);
    print_hold_stats(h, "closed");
    return 0;
  } else {
    printf("{\"event\":\"error\",\"message\":\"unknown command\"}\n");
    fflush(stdout);
  }
  return 1;
}

/* Reads stdin; returns 0 on EOF (the driver went away) or `close`. */
static int read_commands(struct hold *h) {
  for (;;) {
    ssize_t n = read(0, h->line + h->line_len, sizeof h->line - 1 - h->line_len);
    if (n == 0) return 0;
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    h->line_len += (size_t)n;
    char *nl;
    while ((nl = memchr(h->line, '\n', h->line_len)) != NULL) {
      *nl = 0;
      if (!command(h, h->line)) return 0;
      size_t rest = h->line_len - (size_t)(nl + 1 - h->line);
      memmove(h->line, nl + 1, rest);
      h->line_len = rest;
    }
    if (h->line_len == sizeof h->line - 1) h->line_len = 0; /* an absurd line: drop it */
  }
}

#define STDIN_TAG UINT32_MAX

static int run_hold(struct options *o) {
  struct hold h = {.o = o};
  h.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (h.epfd < 0) die("epoll_create1 failed");
  h.agents = must(calloc(o->count ? o->count : 1, sizeof *h.agents));
  h.queue = must(calloc(o->count ? o->count : 1, sizeof *h.queue));
  for (uint32_t i = 0; i < o->count; i++) h.agents[i].fd = -1;
  srand((unsigned)now_ns());
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event in = {.events = EPOLLIN, .data.u32 = STDIN_TAG};
  if (epoll_ctl(h.epfd, EPOLL_CTL_ADD, 0, &in) < 0) die("stdin cannot be watched (is it a pipe?)");
  struct epoll_event events[256];
  uint64_t last_timers = now_ns();
  for (;;) {
    int n = epoll_wait(h.epfd, events, 256, 10);
    if (n < 0 && errno != EINTR) die("epoll_wait failed");
    for (int k = 0; k < n; k++) {
      uint32_t i = events[k].data.u32;
      if (i == STDIN_TAG) {
        if (!read_commands(&h)) return 0;
        continue;
      }
      struct agent *a = &h.agents[i];
      if (a->state == A_CONNECTING && (events[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) agent_writable(&h, i);
      else if (a->state == A_HANDSHAKING || a->state == A_UP) agent_readable(&h, i);
    }
    uint64_t now = now_ns();
    if (now - last_timers > 10000000ull) {
      hold_timers(&h, now);
      last_timers = now;
    }
    pump(&h);
    settle(&h);
  }
}

int main(int argc, char **argv) {
  struct options o;
  parse_options(argc, argv, &o);
  return o.hold ? run_hold(&o) : run_handshakes(&o);
}
