// stream.js - GET /v1/events read with fetch() (EventSource cannot send an
// Authorization header): Server-Sent Events parsed frame by frame, and the
// stream opened again after a break with the last id seen (Last-Event-ID),
// so nothing in between is missed while the gateway still holds it.
// query() gives the stream's filter (types=...&follow=...); refilter()
// reopens it with a new one, carrying on from the same frame.

export function openStream({ key, query, onEvent, onReset, onState }) {
  let lastId = null;
  let stopped = false;
  let controller = null;
  let again = false; // reopen at once (a new filter), not after a pause

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      const headers = { Authorization: `Bearer ${key()}` };
      if (lastId) headers['Last-Event-ID'] = lastId;
      try {
        const res = await fetch(`/v1/events?${query()}`, { headers, signal: controller.signal });
        if (res.status === 401) {
          onState('refused', 'the API key was refused (401)');
          return;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        onState('on', 'live');
        await readFrames(res.body.getReader());
        onState('off', 'the gateway ended the stream; reconnecting');
      } catch (e) {
        if (stopped) return;
        if (!again) onState('off', `reconnecting (${e.message})`);
      }
      if (!again) await new Promise((r) => setTimeout(r, 2000));
      again = false;
    }
  }

  async function readFrames(reader) {
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        frame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  function frame(text) {
    let event = 'message', data = '', id = null;
    for (const line of text.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data += value;
      else if (field === 'id') id = value;
    }
    if (id) lastId = id;
    if (event === 'reset') onReset();
    else if (event === 'saga' && data) onEvent(JSON.parse(data));
  }

  run();
  return {
    refilter() {
      again = true;
      if (controller) controller.abort();
    },
    close() {
      stopped = true;
      if (controller) controller.abort();
      onState('off', 'closed');
    },
  };
}
