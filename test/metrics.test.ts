import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Metrics, mergeSnapshots, renderPrometheus } from "../src/http/metrics.js";
import { refresh as calRefresh, exchangeCode, obtainKeys } from "./support/cal-flow.js";
import { createHarness, type Harness } from "./support/harness.js";
import { sample } from "./support/prometheus.js";

const ADMIN_TOKEN = "metrics-admin-token-0123456789-abcdefgh";

describe("Metrics", () => {
  test("counts answers by route, method and status, with a cumulative duration histogram", () => {
    const metrics = new Metrics();
    metrics.observe("POST", "/rest/v1/oauth/token", 200, 0.003);
    metrics.observe("POST", "/rest/v1/oauth/token", 400, 0.0004);
    metrics.observe("POST", "/rest/v1/oauth/token", 200, 7);
    metrics.observe("GET", undefined, 404, 0.002);
    const body = renderPrometheus(metrics.snapshot());
    const token = { route: "/rest/v1/oauth/token", method: "POST" };
    assert.equal(sample(body, "keyward_http_requests_total", { ...token, status: "200" }), 2);
    assert.equal(sample(body, "keyward_http_requests_total", { ...token, status: "400" }), 1);
    assert.equal(sample(body, "keyward_http_requests_total", { route: "unmatched", method: "GET", status: "404" }), 1);
    const bucket = (le: string) => sample(body, "keyward_http_request_duration_seconds_bucket", { ...token, le });
    assert.equal(bucket("0.001"), 1);
    assert.equal(bucket("0.005"), 2);
    assert.equal(bucket("5"), 2, "seven seconds is past the last bound");
    assert.equal(bucket("+Inf"), 3);
    assert.equal(sample(body, "keyward_http_request_duration_seconds_count", token), 3);
    assert.ok(Math.abs((sample(body, "keyward_http_request_duration_seconds_sum", token) ?? 0) - 7.0034) < 1e-9);
    assert.equal(sample(body, "keyward_processes"), 1);
    assert.ok((sample(body, "process_resident_memory_bytes") ?? 0) > 1_000_000);
    assert.match(body, /^# TYPE keyward_http_requests_total counter$/m);
    assert.match(body, /^# TYPE keyward_http_request_duration_seconds histogram$/m);
  });

  test("quotes label values as the text format asks", () => {
    const metrics = new Metrics();
    metrics.observe("GET", 'a"b\\c\nd', 200, 0);
    assert.match(renderPrometheus(metrics.snapshot()), /route="a\\"b\\\\c\\nd"/);
  });

  test("adds up the snapshots of several processes", () => {
    const [a, b] = [new Metrics(), new Metrics()];
    a.observe("GET", "/healthz", 200, 0.001);
    b.observe("GET", "/healthz", 200, 0.2);
    b.observe("GET", "/healthz", 503, 0.2);
    a.securityEvent("refresh_token_reused");
    b.securityEvent("refresh_token_reused");
    b.tokenIssued("cal", "refresh_token");
    const body = renderPrometheus(mergeSnapshots([a.snapshot(), b.snapshot()]));
    const healthz = { route: "/healthz", method: "GET" };
    assert.equal(sample(body, "keyward_http_requests_total", { ...healthz, status: "200" }), 2);
    assert.equal(sample(body, "keyward_http_requests_total", { ...healthz, status: "503" }), 1);
    assert.equal(sample(body, "keyward_http_request_duration_seconds_bucket", { ...healthz, le: "0.25" }), 3);
    assert.equal(sample(body, "keyward_http_request_duration_seconds_bucket", { ...healthz, le: "0.1" }), 1);
    assert.equal(sample(body, "keyward_security_events_total", { event: "refresh_token_reused" }), 2);
    assert.equal(sample(body, "keyward_tokens_issued_total", { dialect: "cal", grant_type: "refresh_token" }), 1);
    assert.equal(sample(body, "keyward_processes"), 2);
    const snapshotOfA = a.snapshot();
    mergeSnapshots([snapshotOfA, b.snapshot()]);
    assert.equal(snapshotOfA.routes[0]?.count, 1, "merging leaves its inputs as they were");
  });
});

describe("GET /admin/v1/metrics", () => {
  let h: Harness;
  before(async () => {
    h = await createHarness({ KEYWARD_ADMIN_TOKEN: ADMIN_TOKEN });
  });
  after(() => h.close());

  const scrape = async () => {
    const res = await h.app.inject({ url: "/admin/v1/metrics", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    return res.body;
  };

  test("needs the admin token", async () => {
    const res = await h.app.inject({ url: "/admin/v1/metrics" });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error, "invalid_token");
  });

  test("counts what both dialects answered, the tokens they issued and the reuse they caught", async () => {
    const client = await h.createClient();
    const user = await h.createUser();
    const before = await scrape();
    const token = { route: "/rest/v1/oauth/token", method: "POST" };
    const count = (body: string, name: string, labels: Record<string, string>) => sample(body, name, labels) ?? 0;

    const issued = (await h.exchangeCode(client, user)).json();
    const rotated = await h.refresh(client, issued.refresh_token);
    assert.equal(rotated.statusCode, 200);
    assert.equal((await h.refresh(client, issued.refresh_token)).statusCode, 400);
    const { client: calClient, code, keys } = await obtainKeys(h);
    assert.equal((await calRefresh(h, calClient, keys.refreshToken)).statusCode, 200);
    assert.equal((await exchangeCode(h, calClient, code)).statusCode, 400, "the code was spent by obtainKeys");

    const after = await scrape();
    const grew = (name: string, labels: Record<string, string>) =>
      count(after, name, labels) - count(before, name, labels);
    assert.equal(grew("keyward_http_requests_total", { ...token, status: "200" }), 2);
    assert.equal(grew("keyward_http_requests_total", { ...token, status: "400" }), 1);
    assert.equal(grew("keyward_http_request_duration_seconds_count", token), 3);
    assert.equal(grew("keyward_tokens_issued_total", { dialect: "canva", grant_type: "authorization_code" }), 1);
    assert.equal(grew("keyward_tokens_issued_total", { dialect: "canva", grant_type: "refresh_token" }), 1);
    assert.equal(grew("keyward_tokens_issued_total", { dialect: "cal", grant_type: "authorization_code" }), 1);
    assert.equal(grew("keyward_tokens_issued_total", { dialect: "cal", grant_type: "refresh_token" }), 1);
    assert.equal(grew("keyward_security_events_total", { event: "refresh_token_reused" }), 1);
    assert.equal(grew("keyward_security_events_total", { event: "authorization_code_reused" }), 1);
    const calExchange = { route: "/v2/oauth/:clientId/exchange", method: "POST", status: "400" };
    assert.equal(grew("keyward_http_requests_total", calExchange), 1);
    assert.ok(!after.includes(client.clientId), "nothing is counted by client");
  });
});
