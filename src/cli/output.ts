/** Prints either one JSON object or aligned `key: value` lines. */
export function print(json: boolean, value: Record<string, unknown>): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(value)}\n`);
    return;
  }
  const width = Math.max(...Object.keys(value).map((k) => k.length));
  for (const [key, v] of Object.entries(value)) {
    const text = Array.isArray(v) ? v.join(" ") : String(v);
    process.stdout.write(`${key.padEnd(width)}  ${text}\n`);
  }
}
