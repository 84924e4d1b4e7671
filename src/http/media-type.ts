/** Whether a Content-Type header names JSON, whatever its parameters and case. */
export function isJsonMediaType(contentType: string | undefined): boolean {
  return contentType?.split(";")[0]?.trim().toLowerCase() === "application/json";
}
