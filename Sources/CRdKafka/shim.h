#ifndef WALBRIDGE_CRDKAFKA_SHIM_H
#define WALBRIDGE_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/*
 * WalBridge shim: small static inline wrappers for the parts of librdkafka's
 * API that Swift cannot call directly (variadic functions, macros).
 * No state, no allocation, no policy: the Swift layer (KafkaPublisher) owns all
 * decisions.
 */

/* A zero-length, non-NULL buffer: librdkafka treats (NULL, 0) as a null
 * key/value (a tombstone for values) and (non-NULL, 0) as an empty one. */
static const char walbridge_empty_bytes[1] = {0};

/*
 * Produces one message to `rkt` (a topic handle from rd_kafka_topic_new(),
 * which spares librdkafka a topic lookup by name per message) or, when `rkt`
 * is NULL, to the topic named `topic`, with the partitioner choosing the
 * partition (RD_KAFKA_PARTITION_UA) and RD_KAFKA_MSG_F_COPY (librdkafka
 * copies key and value before returning, so the caller's buffers may be freed
 * at once). Calls rd_kafka_produceva(), the non-variadic form of
 * rd_kafka_producev().
 *
 * key_present / value_present: 0 = null (absent), non-zero = present, even
 * when the length is 0 (an empty key or value is not a null one).
 *
 * headers: may be NULL. On success librdkafka owns it; on failure (a non-zero
 * return) the caller still owns it and must rd_kafka_headers_destroy() it.
 *
 * msg_opaque: returned in the delivery report as rkmessage->_private.
 */
static inline rd_kafka_resp_err_t
walbridge_produce(rd_kafka_t *rk,
                  rd_kafka_topic_t *rkt,
                  const char *topic,
                  const void *key, size_t key_len, int key_present,
                  const void *value, size_t value_len, int value_present,
                  rd_kafka_headers_t *headers,
                  void *msg_opaque) {
        rd_kafka_vu_t vus[7];
        size_t count = 0;
        rd_kafka_error_t *error;
        rd_kafka_resp_err_t code;

        if (rkt) {
                vus[count].vtype = RD_KAFKA_VTYPE_RKT;
                vus[count++].u.rkt = rkt;
        } else {
                vus[count].vtype = RD_KAFKA_VTYPE_TOPIC;
                vus[count++].u.cstr = topic;
        }
        vus[count].vtype = RD_KAFKA_VTYPE_PARTITION;
        vus[count++].u.i32 = RD_KAFKA_PARTITION_UA;
        vus[count].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
        vus[count++].u.i = RD_KAFKA_MSG_F_COPY;
        if (key_present) {
                vus[count].vtype = RD_KAFKA_VTYPE_KEY;
                vus[count].u.mem.ptr = (void *)(key ? key : (const void *)walbridge_empty_bytes);
                vus[count++].u.mem.size = key ? key_len : 0;
        }
        if (value_present) {
                /* With RD_KAFKA_MSG_F_COPY librdkafka never writes to or frees
                 * the value; the cast only satisfies the union's type. */
                vus[count].vtype = RD_KAFKA_VTYPE_VALUE;
                vus[count].u.mem.ptr = (void *)(value ? value : (const void *)walbridge_empty_bytes);
                vus[count++].u.mem.size = value ? value_len : 0;
        }
        if (headers) {
                vus[count].vtype = RD_KAFKA_VTYPE_HEADERS;
                vus[count++].u.headers = headers;
        }
        vus[count].vtype = RD_KAFKA_VTYPE_OPAQUE;
        vus[count++].u.ptr = msg_opaque;

        error = rd_kafka_produceva(rk, vus, count);
        if (!error)
                return RD_KAFKA_RESP_ERR_NO_ERROR;
        code = rd_kafka_error_code(error);
        rd_kafka_error_destroy(error);
        return code;
}

/*
 * Adds one header: `name_len` bytes at `name` (not NUL-terminated).
 * value_present = 0 adds a null header value; otherwise the value is added
 * even when empty (a zero-length, non-null value).
 */
static inline rd_kafka_resp_err_t
walbridge_header_add(rd_kafka_headers_t *headers,
                     const void *name, size_t name_len,
                     const void *value, size_t value_len, int value_present) {
        const char *n = name ? (const char *)name : walbridge_empty_bytes;
        if (!value_present)
                return rd_kafka_header_add(headers, n, (ssize_t)name_len, NULL, 0);
        return rd_kafka_header_add(
            headers, n, (ssize_t)name_len, value ? value : (const void *)walbridge_empty_bytes,
            value ? (ssize_t)value_len : 0);
}

/* RD_KAFKA_PARTITION_UA, RD_KAFKA_OFFSET_BEGINNING etc. are macros with casts
 * that Swift does not import: expose them as functions. */
static inline int32_t walbridge_partition_unassigned(void) {
        return RD_KAFKA_PARTITION_UA;
}

static inline int64_t walbridge_offset_beginning(void) {
        return RD_KAFKA_OFFSET_BEGINNING;
}

/* Flags for rd_kafka_purge(): queued and in-flight messages. Blocking (no
 * RD_KAFKA_PURGE_F_NON_BLOCKING), so that every purged message's delivery
 * report is enqueued when rd_kafka_purge() returns. */
static inline int walbridge_purge_queued_and_inflight_flags(void) {
        return RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT;
}

/* rd_kafka_destroy_flags() flag: do not leave the consumer group (bounded
 * shutdown when the broker is unreachable). */
static inline int walbridge_destroy_no_consumer_close_flag(void) {
        return RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE;
}

#endif
