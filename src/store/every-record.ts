/** A listing read a page at a time in id order: `after` the last id of the page before, at most `limit` records. */
export type PagedListing<T> = (after: string | undefined, limit: number) => Promise<T[]>;

/** Every record of a paged listing, read `pageSize` at a time so that a large table is never held at once. */
export async function* everyRecord<T extends { id: string }>(
  list: PagedListing<T>,
  pageSize = 1000,
): AsyncGenerator<T> {
  let after: string | undefined;
  for (;;) {
    const page = await list(after, pageSize);
    yield* page;
    if (page.length < pageSize) return;
    after = page.at(-1)?.id;
  }
}
