/**
 * application/x-www-form-urlencoded, parsed so that repeated parameters stay visible: OAuth
 * forbids them (RFC 6749 §3.1, §3.2) and the dialects must be able to refuse them.
 */
export type FormBody = Map<string, string[]>;

export const MAX_FORM_PARAMETERS = 64;

export class TooManyParametersError extends Error {}

/** A page's POST whose body is not a form (JSON or text, which Fastify also parses). */
export class NotAFormError extends Error {}

/** The form a page posted; an empty form when there is no body. Any other body is refused (415). */
export function postedForm(body: unknown): FormBody {
  if (body === undefined || body === null) return new Map();
  if (body instanceof Map) return body as FormBody;
  throw new NotAFormError("The body is not a form");
}

/**
 * One form-encoded name or value, decoded: `+` is a space, `%XX` a UTF-8 byte. Most need no
 * decoding. Undefined when the escapes do not decode (a stray `%`, bytes that are not UTF-8).
 */
export function decodeFormComponent(raw: string): string | undefined {
  if (!raw.includes("%")) return raw.includes("+") ? raw.replaceAll("+", " ") : raw;
  try {
    return decodeURIComponent(raw.replaceAll("+", " "));
  } catch {
    return undefined;
  }
}

/**
 * One name or value of a posted form, decoded as URLSearchParams decodes it: what does not decode
 * is left to URLSearchParams, which keeps a stray `%` and replaces bytes that are not UTF-8.
 */
const decodeAsUrlSearchParams = (raw: string): string =>
  decodeFormComponent(raw) ?? new URLSearchParams(`=${raw}`).get("") ?? "";

/** Any UTF-16 surrogate: text that has one is left to URLSearchParams, which replaces lone ones. */
const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Parses like URLSearchParams (the WHATWG urlencoded parser), without its iterator and its
 * byte-by-byte decoder for the common case of names and values with nothing to decode.
 */
export function parseForm(text: string): FormBody {
  // URLSearchParams drops one leading "?", which a form body keeps: hence the "?" before it.
  const pairs: Iterable<[string, string]> = SURROGATE.test(text) ? new URLSearchParams(`?${text}`) : splitPairs(text);
  const form: FormBody = new Map();
  let count = 0;
  for (const [name, value] of pairs) {
    if (++count > MAX_FORM_PARAMETERS) throw new TooManyParametersError(`More than ${MAX_FORM_PARAMETERS} parameters`);
    const values = form.get(name);
    if (values) values.push(value);
    else form.set(name, [value]);
  }
  return form;
}

function splitPairs(text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const pair of text.split("&")) {
    if (pair === "") continue;
    const equals = pair.indexOf("=");
    if (equals === -1) pairs.push([decodeAsUrlSearchParams(pair), ""]);
    else pairs.push([decodeAsUrlSearchParams(pair.slice(0, equals)), decodeAsUrlSearchParams(pair.slice(equals + 1))]);
  }
  return pairs;
}

export function duplicatedNames(form: FormBody): string[] {
  return [...form].filter(([, values]) => values.length > 1).map(([name]) => name);
}

/** A parameter's single value: undefined when absent or empty. Callers check duplicates first. */
export function firstValue(form: FormBody, name: string): string | undefined {
  const value = form.get(name)?.[0];
  return value === "" ? undefined : value;
}
