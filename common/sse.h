/*
 * sse.h - a bounded broadcast of Server-Sent Events (the gateway's
 * GET /v1/events). One publisher appends whole frames to a ring of bytes;
 * every reader reads on from its own offset. Publishing costs one copy
 * whatever the readers do: a reader the ring has overtaken (it read more
 * slowly than events came) is dropped, never waited for.
 *
 * Each frame's id is its end's offset in the stream, so a reader that
 * comes back with Last-Event-ID carries on where it left off while the ring
 * still holds what followed; otherwise it starts at the newest frame after
 * an "event: reset" that tells it some were missed.
 *
 * The readers' wake-up (the HTTP server resumes the connections that had
 * nothing to send) is called by the hub's own thread at most every
 * flush_ms, and only when there is something new: many events make one
 * write per reader, not one each. Every keepalive_ms a comment line keeps
 * idle connections (and the proxies between) open.
 */
#ifndef COMMON_SSE_H
#define COMMON_SSE_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "metrics.h"

struct sse_hub;
struct sse_reader;

struct sse_hub_cfg {
	size_t ring_bytes;       /* how far a reader may fall behind (0: 1 MiB) */
	int max_readers;         /* more are refused (0: 256) */
	long flush_ms;           /* readers woken at most this often (0: 100) */
	long keepalive_ms;       /* a comment line this often (0: 15000) */
	struct metrics *metrics; /* may be NULL: saga_sse_readers, saga_sse_dropped_total,
	                          * saga_sse_events_total */
};

int sse_hub_new(struct sse_hub **out, const struct sse_hub_cfg *cfg, char *errstr,
                size_t errstr_size) WARN_UNUSED;
/* Stops the hub's thread and frees it; every reader must be closed. NULL-safe. */
void sse_hub_free(struct sse_hub *h);

/* Who wakes the readers up (NULL: nobody); once it returns, the previous
 * one is not being called and will not be. */
void sse_hub_set_wake(struct sse_hub *h, void (*wake)(void *arg), void *arg);

/* True while a reader is open: a publisher may skip making frames nobody reads. */
int sse_hub_readers(struct sse_hub *h);

/* Appends one frame "id: N\nevent: EVENT\ndata: DATA\n\n". event and data
 * must hold no line break (a compact JSON document has none); a frame that
 * does, or that is larger than a quarter of the ring, is left out. */
void sse_hub_publish(struct sse_hub *h, const char *event, const char *data);

/*
 * Opens a reader at the newest frame, or just after the frame last_id (the
 * client's Last-Event-ID, may be NULL) while the ring still holds what
 * followed it. ERR_CONFLICT when max_readers are open, ERR_NOMEM.
 */
int sse_reader_open(struct sse_reader **out, struct sse_hub *h, const char *last_id) WARN_UNUSED;

/* Copies up to size bytes of the stream into buf: how many, 0 when there is
 * nothing new, -1 when the ring has overtaken the reader (it is dropped). */
ssize_t sse_reader_read(struct sse_reader *r, char *buf, size_t size);

/* NULL-safe. */
void sse_reader_close(struct sse_reader *r);

#endif
