import type { PagedListing } from "../../store/every-record.js";
import { AdminError } from "./errors.js";

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

type Query = Record<string, string | string[] | undefined>;

/** `?limit=` and `?after=` of a listing; anything else is refused, so a misspelt parameter is not silently ignored. */
function readPage(query: Query): { after?: string; limit: number } {
  const { after, limit, ...other } = query;
  const unknown = Object.keys(other)[0];
  if (unknown !== undefined) throw new AdminError(400, "invalid_request", `Unknown parameter ${unknown}`);
  if (after !== undefined && (typeof after !== "string" || after === "" || after.includes("\u0000"))) {
    throw new AdminError(400, "invalid_request", "after must be one id, the next_after of the page before");
  }
  if (limit === undefined) return { after, limit: DEFAULT_PAGE_SIZE };
  const size = typeof limit === "string" && /^\d+$/.test(limit) ? Number(limit) : 0;
  if (size < 1 || size > MAX_PAGE_SIZE) {
    throw new AdminError(400, "invalid_request", `limit must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
  }
  return { after, limit: size };
}

/**
 * One page of a listing in id order, and the `next_after` that asks for the next: null on the last.
 * One record more than the page holds is read, to tell whether another page follows.
 */
export async function pageOf<T extends { id: string }>(
  query: Query,
  list: PagedListing<T>,
): Promise<{ page: T[]; nextAfter: string | null }> {
  const { after, limit } = readPage(query);
  const records = await list(after, limit + 1);
  const page = records.slice(0, limit);
  return { page, nextAfter: records.length > limit ? (page.at(-1)?.id ?? null) : null };
}
