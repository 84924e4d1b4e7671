import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  decodeFormComponent,
  type FormBody,
  MAX_FORM_PARAMETERS,
  parseForm,
  TooManyParametersError,
} from "../src/http/form-body.js";

/**
 * What the WHATWG urlencoded parser makes of `text`, grouped by name as parseForm groups it:
 * URLSearchParams, given a "?" first, which it drops (it would drop one that begins `text`).
 */
function reference(text: string): FormBody {
  const form: FormBody = new Map();
  for (const [name, value] of new URLSearchParams(`?${text}`)) form.set(name, [...(form.get(name) ?? []), value]);
  return form;
}

const FRAGMENTS = ["a", "b", "=", "&", "+", "%", "%2", "%20", "%2B", "%26", "%3D", "%E9", "%C3%A9", "%ED%A0%80", "%zz"];
const odd = ["é", "€", "\u{1F600}", "\uD800", "\uDC00", " ", "\u0000"];

test("forms parse as URLSearchParams parses them", () => {
  const text = fc
    .array(fc.oneof(fc.constantFrom(...FRAGMENTS, ...odd), fc.string({ maxLength: 4 })), { maxLength: 30 })
    .map((parts) => parts.join(""));
  fc.assert(
    fc.property(text, (input) => {
      assert.deepEqual(parseForm(input), reference(input));
    }),
    { numRuns: 5000 },
  );
});

test("forms: the cases a decoder gets wrong", () => {
  for (const input of [
    "",
    "&&",
    "=",
    "a",
    "a=",
    "=b",
    "a==b",
    "a=1&a=2",
    "a+b=c+d",
    "a=%2B%26%3D",
    "a=%zz&b=%",
    "a=%E9",
    "a=%C3%A9",
    "a=%ED%A0%80",
    "a=\uD800",
    "?a=1",
    "grant_type=authorization_code&code=0123abc-_&code_verifier=x",
  ]) {
    assert.deepEqual(parseForm(input), reference(input), input);
  }
});

test("a form component decodes as URLSearchParams decodes it, or is undefined where that would keep or replace", () => {
  for (const [raw, decoded] of [
    ["", ""],
    ["abc", "abc"],
    ["a+b", "a b"],
    ["%2B%26%3D", "+&="],
    ["%C3%A9+x", "é x"],
    ["%zz", undefined],
    ["%", undefined],
    ["%E9", undefined],
    ["%ED%A0%80", undefined],
  ] as const) {
    assert.equal(decodeFormComponent(raw), decoded, raw);
  }
  const text = fc.array(fc.oneof(fc.constantFrom(...FRAGMENTS, ...odd), fc.string({ maxLength: 4 })), {
    maxLength: 10,
  });
  fc.assert(
    fc.property(text, (parts) => {
      const raw = parts.join("").replaceAll(/[&=]/g, "");
      const decoded = decodeFormComponent(raw);
      if (decoded !== undefined && !/[\uD800-\uDFFF]/.test(raw)) {
        assert.equal(decoded, new URLSearchParams(`=${raw}`).get(""), raw);
      }
    }),
    { numRuns: 2000 },
  );
});

test("a form with too many parameters is refused", () => {
  assert.equal(parseForm(Array(MAX_FORM_PARAMETERS).fill("a=1").join("&")).get("a")?.length, MAX_FORM_PARAMETERS);
  assert.throws(
    () =>
      parseForm(
        Array(MAX_FORM_PARAMETERS + 1)
          .fill("a=1")
          .join("&"),
      ),
    TooManyParametersError,
  );
});
