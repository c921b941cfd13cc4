// Values of the output grid: Arrow → plain JS, kinds of columns, and one way to show each.
// Everything here returns text; the grid puts it into the DOM as text, never as HTML.

const ISO = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/;
const HAS_ZONE = /(Z|[+-]\d{2}:?\d{2})$/;

// bigint → number where exact, else its digits (ids beyond 2^53 stay exact as text)
export function plain(v) {
  if (v === null || v === undefined) return null;
  const t = typeof v;
  if (t === "bigint") return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v.toString();
  if (t !== "object") return v;
  if (v instanceof Date) return v.getTime();
  if (ArrayBuffer.isView(v)) return Array.from(v, plain);
  if (typeof v.toJSON === "function") v = v.toJSON(); // Arrow StructRow / Vector
  if (Array.isArray(v)) return v.map(plain);
  if (ArrayBuffer.isView(v)) return Array.from(v, plain);
  const out = {};
  for (const k of Object.keys(v)) out[k] = plain(v[k]);
  return out;
}

const utf8 = new TextDecoder();

// Utf8 column without nulls in one chunk, all ASCII: one decode, then slices by offset.
function asciiStrings(vector) {
  if (vector.data.length !== 1 || vector.nullCount !== 0) return null;
  const d = vector.data[0];
  const offsets = d.valueOffsets;
  const bytes = d.values;
  if (!offsets || !bytes) return null;
  const start = offsets[d.offset];
  const end = offsets[d.offset + d.length];
  const text = utf8.decode(bytes.subarray(start, end));
  if (text.length !== end - start) return null; // not ASCII: byte offsets are not string offsets
  const out = new Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = text.slice(offsets[d.offset + i] - start, offsets[d.offset + i + 1] - start);
  return out;
}

// An Arrow column → a plain array (numbers, strings, booleans, objects, arrays, null).
export function columnValues(vector) {
  const n = vector.length;
  const typeId = vector.type.typeId;
  if (typeId === 5) {
    const fast = asciiStrings(vector);
    if (fast) return fast;
  }
  const out = new Array(n);
  if (vector.nullCount === 0 && (typeId === 2 || typeId === 3) && vector.data.length === 1) {
    // Int / Float without nulls: one typed array
    const arr = vector.toArray();
    if (arr instanceof BigInt64Array || arr instanceof BigUint64Array) {
      for (let i = 0; i < n; i++) out[i] = plain(arr[i]);
    } else {
      for (let i = 0; i < n; i++) out[i] = arr[i];
    }
    return out;
  }
  for (let i = 0; i < n; i++) out[i] = plain(vector.get(i));
  return out;
}

// What a column holds, from its Arrow type and a sample of its values.
export function kindOf(type, sample) {
  const id = type ? type.typeId : 0;
  if (id === 2 || id === 3 || id === 7) return "number"; // Int, Float, Decimal
  if (id === 6) return "bool";
  if (id === 13) {
    const names = type.children.map((f) => f.name);
    return names.includes("start") && names.includes("end") ? "window" : "struct";
  }
  if (id === 12 || id === 16) return "list";
  if (typeof sample === "string" && ISO.test(sample)) return "time";
  if (typeof sample === "number") return "number";
  if (sample !== null && typeof sample === "object") return "struct";
  return "text";
}

export function parseTime(v) {
  if (v === null || v === undefined || v === "") return NaN;
  if (typeof v === "number") return v; // already ms
  const s = String(v);
  if (!ISO.test(s)) return NaN;
  // a time without a zone is UTC (Arroyo's timestamps are)
  const iso = s.replace(" ", "T");
  return Date.parse(HAS_ZONE.test(iso) ? iso : iso + "Z");
}

// One timestamp format everywhere: "2026-12-08 05:00:00.123 UTC", in the zone chosen.
export function timeFormatter(zone) {
  const timeZone = !zone || zone === "local" ? undefined : zone;
  let fmt;
  try {
    fmt = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
      timeZoneName: "short",
    });
  } catch (e) {
    return timeFormatter("UTC"); // an unknown zone name: UTC, rather than nothing
  }
  const cache = new Map();
  return (ms) => {
    if (typeof ms !== "number" || !isFinite(ms)) return "";
    ms = Math.floor(ms); // shown to the millisecond (event times arrive in µs)
    const hit = cache.get(ms);
    if (hit !== undefined) return hit;
    const p = {};
    for (const part of fmt.formatToParts(new Date(ms))) p[part.type] = part.value;
    const frac = String(Math.floor(((ms % 1000) + 1000) % 1000)).padStart(3, "0");
    const text = `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}.${frac} ${p.timeZoneName || ""}`.trim();
    if (cache.size > 5000) cache.clear();
    cache.set(ms, text);
    return text;
  };
}

const NUM = new Intl.NumberFormat("en-US", { maximumFractionDigits: 6 });
const INT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export function fmtNum(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return /^-?\d+$/.test(v) ? v.replace(/\B(?=(\d{3})+(?!\d))/g, ",") : v;
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return INT.format(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e15)) return v.toExponential(4);
  return NUM.format(v);
}

export function fmtRate(rate) {
  if (rate === null || rate === undefined) return "-";
  return rate >= 10 ? INT.format(Math.round(rate)) : NUM.format(Math.round(rate * 10) / 10);
}

export function isJsonText(v) {
  if (typeof v !== "string" || v.length < 2) return false;
  const c = v[0];
  if (c !== "{" && c !== "[") return false;
  try {
    const parsed = JSON.parse(v);
    return parsed !== null && typeof parsed === "object";
  } catch (e) {
    return false;
  }
}

// Short one-line form of a nested value: {a: 1, b: "x"}
export function compact(v, max = 120) {
  let s;
  try {
    s = JSON.stringify(v);
  } catch (e) {
    s = String(v);
  }
  if (s === undefined) s = String(v);
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

export function pretty(v) {
  try {
    return JSON.stringify(v, null, 2);
  } catch (e) {
    return String(v);
  }
}

// Text of a value as it is copied (cells) — full, not shortened.
export function copyText(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function compareValues(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "object" || typeof b === "object") return compact(a, 1e9) < compact(b, 1e9) ? -1 : 1;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}
