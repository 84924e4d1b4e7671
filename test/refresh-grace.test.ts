import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { loadConfig } from "../src/config.js";
import { assertCalError, introspect as introspectAt, keysFrom, obtainKeys, refresh } from "./support/cal-flow.js";
import { createHarness, type Harness, type TestClient, type TestUser } from "./support/harness.js";

const GRACE_SECONDS = 30;

describe("a refresh answered again within KEYWARD_REFRESH_GRACE", () => {
  let h: Harness;
  let client: TestClient;
  let user: TestUser;
  let lines: Record<string, unknown>[] = [];

  before(async () => {
    const stream = { write: (line: string) => lines.push(JSON.parse(line)) };
    h = await createHarness({ KEYWARD_REFRESH_GRACE: String(GRACE_SECONDS) }, { level: "info", stream });
    client = await h.createClient();
    user = await h.createUser();
  });
  beforeEach(() => {
    lines = [];
  });
  after(() => h.close());

  const introspect = (value: string) => introspectAt(h, client, value);

  async function issued(): Promise<{ access_token: string; refresh_token: string; scope: string }> {
    const res = await h.exchangeCode(client, user);
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  }

  async function rotated(
    refreshToken: string,
  ): Promise<{ access_token: string; refresh_token: string; scope: string }> {
    const res = await h.refresh(client, refreshToken);
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  }

  async function assertLineageRevoked(...tokens: string[]): Promise<void> {
    for (const value of tokens) assert.deepEqual(await introspect(value), { active: false });
  }

  /** Presenting `spent` is refused as reuse, and `lineage` no longer works. */
  async function assertReuse(spent: string, ...lineage: string[]): Promise<void> {
    const replay = await h.refresh(client, spent);
    assert.equal(replay.statusCode, 400);
    assert.equal(replay.json().error, "invalid_grant");
    await assertLineageRevoked(...lineage);
  }

  test("the lost answer's tokens stop working and the new ones work", async () => {
    const first = await issued();
    const lost = await rotated(first.refresh_token);
    const again = await rotated(first.refresh_token);
    assert.equal(again.scope, first.scope);
    assert.notEqual(again.refresh_token, lost.refresh_token);
    assert.notEqual(again.access_token, lost.access_token);

    assert.deepEqual(await introspect(lost.access_token), { active: false });
    assert.deepEqual(await introspect(lost.refresh_token), { active: false });
    assert.equal((await introspect(again.access_token)).active, true);
    const profile = await h.profile(lost.access_token);
    assert.equal(profile.statusCode, 401);
    assert.equal(profile.json().code, "revoked_access_token");
    assert.equal((await h.profile(again.access_token)).statusCode, 200);

    const next = await rotated(again.refresh_token);
    assert.equal((await introspect(next.access_token)).active, true);
  });

  test("answered again as often as asked within the grace, with one live pair at a time", async () => {
    const first = await issued();
    const answers = [await rotated(first.refresh_token)];
    for (let i = 0; i < 3; i++) answers.push(await rotated(first.refresh_token));
    const live = answers.pop();
    for (const answer of answers) await assertLineageRevoked(answer.access_token, answer.refresh_token);
    assert.equal((await introspect(live?.refresh_token ?? "")).active, true);
  });

  test("the superseded refresh token presented later is reuse: the lineage is revoked", async () => {
    const first = await issued();
    const lost = await rotated(first.refresh_token);
    const again = await rotated(first.refresh_token);
    await assertReuse(lost.refresh_token, again.access_token, again.refresh_token);
  });

  test("once the new refresh token is used, the spent one is reuse", async () => {
    const first = await issued();
    const second = await rotated(first.refresh_token);
    const third = await rotated(second.refresh_token);
    await assertReuse(first.refresh_token, third.access_token, third.refresh_token);
  });

  test("after the grace period the spent one is reuse", async () => {
    const first = await issued();
    const second = await rotated(first.refresh_token);
    h.advanceClock(GRACE_SECONDS * 1000 + 1);
    await assertReuse(first.refresh_token, second.access_token, second.refresh_token);
  });

  test("two presentations of one token at once are both answered, with one live pair between them", async () => {
    const first = await issued();
    const answers = await Promise.all([h.refresh(client, first.refresh_token), h.refresh(client, first.refresh_token)]);
    assert.deepEqual(
      answers.map((res) => res.statusCode),
      [200, 200],
      answers.map((res) => res.body).join("\n"),
    );
    const live = [];
    for (const res of answers) live.push((await introspect(res.json().refresh_token)).active);
    assert.deepEqual(live.sort(), [false, true], "the answer given again replaced the other");
  });

  test("another client presenting the token gets nothing and changes nothing", async () => {
    const first = await issued();
    const second = await rotated(first.refresh_token);
    const other = await h.createClient();
    const stranger = await h.refresh(other, first.refresh_token);
    assert.equal(stranger.statusCode, 400);
    assert.equal((await introspect(second.refresh_token)).active, true);
  });

  test("the answer given again is logged at info and counted, without token values", async () => {
    const counted = () => h.runtime.metrics.snapshot().securityEvents.refresh_token_retried ?? 0;
    const before = counted();
    const first = await issued();
    const lost = await rotated(first.refresh_token);
    assert.equal(lines.filter((line) => line.event !== undefined).length, 0, "a first rotation logs no event");
    const again = await rotated(first.refresh_token);
    const events = lines.filter((line) => line.event !== undefined);
    assert.equal(events.length, 1, JSON.stringify(lines));
    const [line] = events;
    assert.equal(line?.level, 30);
    assert.equal(line?.event, "refresh_token_retried");
    assert.equal(line?.client_id, client.clientId);
    assert.equal(line?.user_id, user.userId);
    const text = JSON.stringify(lines);
    for (const value of [first.refresh_token, lost.refresh_token, again.refresh_token])
      assert.ok(!text.includes(value));
    assert.equal(counted() - before, 1);
  });

  test("Cal.com's refresh is answered again the same way", async () => {
    const { client: calClient, keys } = await obtainKeys(h);
    const lost = keysFrom(await refresh(h, calClient, keys.refreshToken));
    const counted = () => h.runtime.metrics.snapshot().securityEvents.refresh_token_retried ?? 0;
    const before = counted();
    lines = [];
    const again = keysFrom(await refresh(h, calClient, keys.refreshToken));
    const events = lines.filter((line) => line.event !== undefined);
    assert.deepEqual(
      events.map((line) => [line.level, line.event, line.client_id]),
      [[30, "refresh_token_retried", calClient.clientId]],
      "logged at info and counted, as Canva's is",
    );
    assert.equal(counted() - before, 1);
    assert.equal((await introspectAt(h, calClient, lost.accessToken)).active, false);
    assert.equal((await introspectAt(h, calClient, again.accessToken)).active, true);
    const replay = await refresh(h, calClient, lost.refreshToken);
    assertCalError(replay, 400, "BadRequestException", "Invalid refresh token");
    assert.equal((await introspectAt(h, calClient, again.accessToken)).active, false, "reuse revoked the lineage");
  });
});

describe("KEYWARD_REFRESH_GRACE", () => {
  const base = { DATABASE_URL: ":memory:", KEYWARD_SECRET: "s".repeat(40) };

  test("is off unless set, and takes whole seconds up to a minute", () => {
    assert.equal(loadConfig(base).refreshGraceMs, 0);
    assert.equal(loadConfig({ ...base, KEYWARD_REFRESH_GRACE: "60" }).refreshGraceMs, 60_000);
    for (const bad of ["61", "-1", "1.5", "soon"]) {
      assert.throws(() => loadConfig({ ...base, KEYWARD_REFRESH_GRACE: bad }), /KEYWARD_REFRESH_GRACE/);
    }
  });

  for (const { when, clockShift } of [
    { when: "presented again at once", clockShift: 0 },
    // Another instance whose clock runs behind, or a request that read the time and then waited.
    { when: "presented by a clock that reads before its spending", clockShift: -2000 },
  ]) {
    test(`off, a spent refresh token ${when} revokes the lineage`, async () => {
      const h = await createHarness();
      try {
        const client = await h.createClient();
        const user = await h.createUser();
        const first = (await h.exchangeCode(client, user)).json();
        const second = (await h.refresh(client, first.refresh_token)).json();
        h.advanceClock(clockShift);
        assert.equal((await h.refresh(client, first.refresh_token)).statusCode, 400);
        assert.equal((await h.refresh(client, second.refresh_token)).statusCode, 400, "the lineage is revoked");
      } finally {
        await h.close();
      }
    });
  }
});
