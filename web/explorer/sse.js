// Server-Sent Events over fetch: an incremental parser of the text/event-stream format (WHATWG
// HTML, "Server-sent events", parsing an event stream) and a reconnecting reader. EventSource is
// not used because it cannot send an Authorization header: tokens travel only in headers, never
// in URLs.

/** Incremental text/event-stream parser: feed it decoded text, get the dispatched events. */
export class EventStreamParser {
  constructor() {
    this.buffer = '';
    this.data = [];
    this.event = '';
    this.id = null; // the last event ID seen so far (persists across events, as the spec says)
    this.retry = null;
    this.pendingCR = false;
  }

  /** Feeds a chunk of text; returns the events completed by it: `{ id, event, data }`. */
  push(chunk) {
    let text = chunk;
    // A CR at the end of the previous chunk may be the first half of a CRLF.
    if (this.pendingCR && text.startsWith('\n')) text = text.slice(1);
    this.pendingCR = false;
    this.buffer += text;
    const out = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (c !== '\n' && c !== '\r') continue;
      const line = this.buffer.slice(start, i);
      if (c === '\r') {
        if (i + 1 === this.buffer.length) this.pendingCR = true;
        else if (this.buffer[i + 1] === '\n') i++;
      }
      start = i + 1;
      const ev = this.line(line);
      if (ev) out.push(ev);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  line(line) {
    if (line === '') {
      // Dispatch: nothing when no data field arrived.
      if (this.data.length === 0) {
        this.event = '';
        return null;
      }
      const ev = { id: this.id, event: this.event || 'message', data: this.data.join('\n') };
      this.data = [];
      this.event = '';
      return ev;
    }
    if (line.startsWith(':')) return null; // a comment (heartbeat)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
    return null;
  }
}

/**
 * Reads an event stream with fetch, reconnecting with `Last-Event-ID` after a dropped
 * connection. Calls `onEvent(ev)` per event and `onStatus(state, detail)` with state one of
 * `connecting`, `open`, `reconnecting`, `unavailable` (the route answered 404/405/501: no live
 * updates on this server), `error` (another status: retried), `closed`. Returns `stop()`.
 */
export function readEvents(url, { headers = {}, lastEventId = null, onEvent, onStatus = () => {}, fetchImpl = fetch, retryMs = 2000 } = {}) {
  const controller = new AbortController();
  let stopped = false;
  let lastId = lastEventId;

  const loop = async () => {
    let delay = retryMs;
    let first = true;
    while (!stopped) {
      onStatus(first ? 'connecting' : 'reconnecting');
      first = false;
      try {
        const h = { Accept: 'text/event-stream', ...headers };
        if (lastId !== null && lastId !== undefined) h['Last-Event-ID'] = String(lastId);
        const res = await fetchImpl(url, { headers: h, signal: controller.signal, cache: 'no-store' });
        if ([404, 405, 501].includes(res.status)) {
          onStatus('unavailable', `the server answered ${res.status}`);
          return;
        }
        const type = res.headers.get('content-type') || '';
        if (!res.ok || !type.startsWith('text/event-stream')) {
          onStatus('error', `the server answered ${res.status} ${type}`);
          if (res.status === 401 || res.status === 403) return;
        } else {
          onStatus('open');
          const parser = new EventStreamParser();
          const reader = res.body.getReader();
          const decoder = new TextDecoder();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            for (const ev of parser.push(decoder.decode(value, { stream: true }))) {
              if (ev.id !== null) lastId = ev.id;
              onEvent(ev);
            }
            if (parser.retry !== null) delay = parser.retry;
          }
        }
      } catch (e) {
        if (stopped) break;
        onStatus('error', e && e.message ? e.message : String(e));
      }
      if (stopped) break;
      await new Promise((r) => setTimeout(r, delay));
    }
    onStatus('closed');
  };
  loop();
  return () => {
    stopped = true;
    controller.abort();
  };
}
