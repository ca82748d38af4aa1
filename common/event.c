#include "event.h"

#include <uuid/uuid.h>

#include "clock.h"

void event_uuid(char *buf)
{
	uint64_t ms = (uint64_t)event_now_ms();
	uuid_t u;

	uuid_generate_random(u);
	for (int i = 0; i < 6; i++)
		u[i] = (unsigned char)(ms >> (40 - 8 * i)); /* 48-bit big-endian time */
	u[6] = (unsigned char)(0x70 | (u[6] & 0x0f));       /* version 7 */
	u[8] = (unsigned char)(0x80 | (u[8] & 0x3f));       /* RFC 9562 variant */
	uuid_unparse_lower(u, buf);
}

void event_uuid_random(char *buf)
{
	uuid_t u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, buf);
}

int64_t event_now_ms(void)
{
	return clock_wall_ms();
}

const char *event_str(const json_t *record, const char *field)
{
	return json_string_value(json_object_get(record, field));
}

json_int_t event_int(const json_t *record, const char *field)
{
	return json_integer_value(json_object_get(record, field));
}

const char *event_meta(const json_t *record, const char *field)
{
	return json_string_value(json_object_get(json_object_get(record, "metadata"), field));
}

long long event_occurred_at(const json_t *record)
{
	return json_integer_value(
	        json_object_get(json_object_get(record, "metadata"), "occurred_at"));
}

json_t *event_metadata(const char *producer, const json_t *cause, const char *correlation_id,
                       const char *traceparent)
{
	char id[40];
	json_t *m;

	event_uuid(id);
	if (cause) {
		correlation_id = event_meta(cause, "correlation_id");
		traceparent = event_meta(cause, "traceparent");
	}
	m = json_pack("{s:s, s:s, s:I, s:s}", "event_id", id, "correlation_id",
	              correlation_id ? correlation_id : id, "occurred_at",
	              (json_int_t)event_now_ms(), "producer", producer);
	if (!m)
		return NULL;
	json_object_set_new(m, "causation_id",
	                    cause && event_meta(cause, "event_id")
	                            ? json_string(event_meta(cause, "event_id"))
	                            : json_null());
	json_object_set_new(m, "traceparent", traceparent ? json_string(traceparent) : json_null());
	return m;
}
