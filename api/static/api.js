// Calls to the gridshare API (same origin). Integers beyond 2^53 (nonces, large amounts) stay
// exact: JSON is parsed with BigInt for them and written back with JSON.rawJSON.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function parseJson(text) {
  return JSON.parse(text, (_key, value, context) =>
    typeof value === "number" && !Number.isSafeInteger(value) && context && /^-?\d+$/.test(context.source)
      ? BigInt(context.source)
      : value,
  );
}

export function toJson(value) {
  return JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? JSON.rawJSON(v.toString()) : v));
}

let token = sessionStorage.getItem("gridshare.token");

export function setToken(value) {
  token = value;
  if (value) sessionStorage.setItem("gridshare.token", value);
  else sessionStorage.removeItem("gridshare.token");
}

export function hasToken() {
  return Boolean(token);
}

/** GET (or `method`) `path` with `params`; the session token when there is one. */
export async function api(path, { method = "GET", body, params, auth = true } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    for (const item of Array.isArray(v) ? v : [v]) if (item !== undefined && item !== null) url.searchParams.append(k, String(item));
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : toJson(body) });
  } catch (exc) {
    throw new ApiError(0, "network", `the API did not answer (${exc.message})`);
  }
  const text = await response.text();
  const data = text ? parseJson(text) : null;
  if (!response.ok) {
    const code = (data && data.code) || `http_${response.status}`;
    const message = (data && data.message) || response.statusText;
    if (response.status === 401) setToken(null);
    throw new ApiError(response.status, code, message);
  }
  return data;
}
