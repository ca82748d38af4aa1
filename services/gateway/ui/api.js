// api.js - the public API as the page uses it: every call carries the key
// the user typed (kept in this tab's sessionStorage only) and turns a
// refusal into a message a person can act on.

const KEY = 'saga.apiKey';

export function apiKey() {
  return sessionStorage.getItem(KEY) || '';
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function explain(status, problem) {
  const detail = problem && problem.detail ? problem.detail : '';
  if (status === 401) return 'The API key was refused (401): check the key and enter it again.';
  if (status === 429) return 'Too many requests for this key (429): wait a second.';
  if (status === 503) return `The gateway cannot answer now (503): ${detail}`;
  return `${status}: ${detail || 'the request failed'}`;
}

export async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${apiKey()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, `The gateway cannot be reached: ${e.message}`);
  }
  const text = await res.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch (e) { doc = null; }
  if (!res.ok) throw new ApiError(res.status, explain(res.status, doc));
  return doc;
}
