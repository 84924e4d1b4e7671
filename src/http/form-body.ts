/**
 * application/x-www-form-urlencoded, parsed so that repeated parameters stay visible: OAuth
 * forbids them (RFC 6749 §3.1, §3.2) and the dialects must be able to refuse them.
 */
export type FormBody = Map<string, string[]>;

export const MAX_FORM_PARAMETERS = 64;

export class TooManyParametersError extends Error {}

export function parseForm(text: string): FormBody {
  const form: FormBody = new Map();
  let count = 0;
  for (const [name, value] of new URLSearchParams(text)) {
    if (++count > MAX_FORM_PARAMETERS) throw new TooManyParametersError(`More than ${MAX_FORM_PARAMETERS} parameters`);
    const values = form.get(name);
    if (values) values.push(value);
    else form.set(name, [value]);
  }
  return form;
}

export function duplicatedNames(form: FormBody): string[] {
  return [...form].filter(([, values]) => values.length > 1).map(([name]) => name);
}

/** A parameter's single value: undefined when absent or empty. Callers check duplicates first. */
export function firstValue(form: FormBody, name: string): string | undefined {
  const value = form.get(name)?.[0];
  return value === "" ? undefined : value;
}
