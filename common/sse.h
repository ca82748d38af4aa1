/*
 * sse.h - a bounded broadcast of Server-Sent Events (the gateway's
 * GET /v1/events). One publisher appends whole frames to a ring of bytes;
 * every reader reads on from its own place. Publishing costs one copy
 * whatever the readers do: a reader the ring has overtaken (it read more
 * slowly than frames came) is dropped, never waited for.
 *
 * Beside the bytes the hub keeps an index of the frames: each one's number
 * (its SSE id), where it starts, and a kind and a key that are not sent
 * (the gateway's: the saga event's type and the order id), so a reader may
 * ask for some frames only (struct sse_filter) and skip the others without
 * reading them. A frame may come in two forms, its data in full and brief
 * (the gateway's: what a list of orders shows), one after the other in the
 * ring; a reader takes the one it asked for. A reader that comes back with
 * Last-Event-ID carries on after that frame while the ring still holds
 * what followed it; otherwise it starts at the newest frame after an
 * "event: reset" that tells it some were missed.
 *
 * The readers' wake-up (the HTTP server resumes the connections that had
 * nothing to send) is called by the hub's own thread for one of
 * SSE_WAKE_PARTS parts of them at a time, every flush_ms / SSE_WAKE_PARTS,
 * so that each part is woken at most every flush_ms, and only when there
 * is something new: many frames make one write per reader, not one each,
 * and the writes are spread over the interval instead of coming at once.
 * Every keepalive_ms a comment line keeps idle connections (and the
 * proxies between) open, and finds the readers that left while there was
 * nothing to send them.
 */
#ifndef COMMON_SSE_H
#define COMMON_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "metrics.h"

#define SSE_MAX_KINDS  32 /* kinds one filter may name */
#define SSE_WAKE_PARTS 5  /* the readers are woken a part at a time */

struct sse_hub;
struct sse_reader;

struct sse_hub_cfg {
	size_t ring_bytes;       /* how far a reader may fall behind (0: 1 MiB) */
	int max_readers;         /* more are refused (0: 256) */
	long flush_ms;           /* readers woken at most this often (0: 200) */
	long keepalive_ms;       /* a comment line this often (0: 5000) */
	struct metrics *metrics; /* may be NULL: saga_sse_readers, saga_sse_dropped_total,
	                          * saga_sse_events_total */
};

/* One frame to publish: "id: N\nevent: EVENT\ndata: DATA\n\n". event and
 * data must hold no line break (a compact JSON document has none); kind
 * and key (may be NULL) are what filters look at. brief (may be NULL) is a
 * shorter DATA for the readers that asked for brief frames: the same frame,
 * with the same number. */
struct sse_item {
	const char *event;
	const char *data;
	const char *brief;
	const char *kind;
	const char *key;
};

/* Which frames a reader wants (comments always pass), and in which form.
 * Every field may be NULL; all NULL: every frame. With key, only that
 * key's frames; else the frames of the kinds listed (all kinds when kinds
 * is NULL), and with follow, every frame of that key besides. */
struct sse_filter {
	const char *kinds;  /* "A,B,C", at most SSE_MAX_KINDS */
	const char *key;    /* only this key's frames */
	const char *follow; /* this key's frames too */
	bool brief;         /* the frames' brief data where they have one */
};

int sse_hub_new(struct sse_hub **out, const struct sse_hub_cfg *cfg, char *errstr,
                size_t errstr_size) WARN_UNUSED;
/* Stops the hub's thread and frees it; every reader must be closed. NULL-safe. */
void sse_hub_free(struct sse_hub *h);

/* Who wakes the readers up, part by part (NULL: nobody); once it returns,
 * the previous one is not being called and will not be. */
void sse_hub_set_wake(struct sse_hub *h, void (*wake)(void *arg, unsigned part, unsigned parts),
                      void *arg);

/* How many readers are open: a publisher may skip making frames nobody reads. */
int sse_hub_readers(struct sse_hub *h);

/* Appends the n frames at once (the readers wait once). A frame with a
 * line break in its event, data or brief, or larger (both forms) than a
 * quarter of the ring, is left out. */
void sse_hub_publish(struct sse_hub *h, const struct sse_item *items, size_t n);

/*
 * Opens a reader at the newest frame, or just after the frame last_id (the
 * client's Last-Event-ID, may be NULL) while the ring still holds what
 * followed it. filter may be NULL (every frame). ERR_CONFLICT when
 * max_readers are open, ERR_INVALID for a filter whose kinds are too many
 * or none (",,"), ERR_NOMEM.
 */
int sse_reader_open(struct sse_reader **out, struct sse_hub *h, const char *last_id,
                    const struct sse_filter *filter) WARN_UNUSED;

/* Copies up to size bytes of the stream into buf: how many, 0 when there is
 * nothing new, -1 when the ring has overtaken the reader (it is dropped). */
ssize_t sse_reader_read(struct sse_reader *r, char *buf, size_t size);

/* NULL-safe. */
void sse_reader_close(struct sse_reader *r);

#endif
