import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { after, before, describe, test } from "node:test";
import { createTestSchema, PG_SKIP, type TestSchema } from "./support/postgres.js";
import { sample } from "./support/prometheus.js";
import { CLI, freePort, tempDatabase } from "./support/server-process.js";
import {
  deploymentEnv,
  isActive,
  openSeeder,
  type Reply,
  redeem,
  refresh,
  type Seeder,
} from "./support/shared-database.js";

const WORKERS = 2;
const CONCURRENCY = 50;

interface Cluster {
  url: string;
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, count?: number): Promise<void>;
  workerPids(): number[];
  /** Waits for it to exit, SIGKILL after `ms`; resolves with its exit code. */
  exit(ms: number): Promise<number | null>;
  /** SIGTERM unless it has exited, then `exit(15_000)`. */
  stop(): Promise<number | null>;
}

/** `keyward start` with several workers, as a real process tree. */
async function startCluster(args: string[], env: Record<string, string>): Promise<Cluster> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, "start", ...args], {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const append = (chunk: Buffer) => {
    output += chunk;
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const cluster: Cluster = {
    url: `http://127.0.0.1:${port}`,
    child,
    output: () => output,
    async waitFor(pattern, count = 1) {
      const global = new RegExp(pattern.source, "g");
      const deadline = Date.now() + 30_000;
      while ((output.match(global) ?? []).length < count) {
        if (child.exitCode !== null) throw new Error(`keyward exited:\n${output}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    workerPids() {
      const ps = spawnSync("ps", ["-o", "pid=", "--ppid", String(child.pid)], { encoding: "utf8" });
      return ps.stdout.split("\n").filter(Boolean).map(Number);
    },
    async exit(ms) {
      const timer = setTimeout(() => child.kill("SIGKILL"), ms);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      return cluster.exit(15_000);
    },
  };
  await cluster.waitFor(new RegExp(`${WORKERS} workers listening`));
  return cluster;
}

function tally(replies: Reply[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of replies) {
    const key = r.status === 200 ? "200" : `${r.status} ${String(r.body.error)}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

const many = <T>(n: number, make: (i: number) => Promise<T>) =>
  Promise.all(Array.from({ length: n }, (_, i) => make(i)));

/** The checks every store must pass with several workers writing at once. */
function concurrencyTests(target: () => { cluster: Cluster; seeder: Seeder }) {
  test(`${CONCURRENCY} concurrent refreshes of one token across the workers: exactly one succeeds`, async () => {
    const { cluster, seeder } = target();
    const issued = await redeem(cluster.url, seeder.client, await seeder.issueCode());
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const token = String(issued.body.refresh_token);
    const replies = await many(CONCURRENCY, () => refresh(cluster.url, seeder.client, token));
    assert.deepEqual(tally(replies), { "200": 1, "400 invalid_grant": CONCURRENCY - 1 });
  });

  test(`${CONCURRENCY} concurrent redemptions of one code: exactly one succeeds`, async () => {
    const { cluster, seeder } = target();
    const code = await seeder.issueCode();
    const replies = await many(CONCURRENCY, () => redeem(cluster.url, seeder.client, code));
    assert.deepEqual(tally(replies), { "200": 1, "400 invalid_grant": CONCURRENCY - 1 });
  });

  test("a burst of concurrent writes from every worker never answers 5xx", async () => {
    const { cluster, seeder } = target();
    const codes = await many(CONCURRENCY, () => seeder.issueCode());
    const issued = await many(CONCURRENCY, (i) => redeem(cluster.url, seeder.client, codes[i] as (typeof codes)[0]));
    assert.deepEqual(tally(issued), { "200": CONCURRENCY });
    const refreshed = await many(CONCURRENCY, (i) =>
      refresh(cluster.url, seeder.client, String(issued[i]?.body.refresh_token)),
    );
    assert.deepEqual(tally(refreshed), { "200": CONCURRENCY });
  });
}

const ADMIN_TOKEN = "cluster-admin-token-0123456789-abcdefgh";

describe("keyward start --workers over SQLite", () => {
  let database: string;
  let cluster: Cluster;
  let seeder: Seeder;
  let adminUrl: string;

  before(async () => {
    database = tempDatabase();
    const adminPort = await freePort();
    adminUrl = `http://127.0.0.1:${adminPort}`;
    cluster = await startCluster(["--workers", String(WORKERS)], {
      ...deploymentEnv(database),
      KEYWARD_ADMIN_TOKEN: ADMIN_TOKEN,
      KEYWARD_ADMIN_PORT: String(adminPort),
    });
    seeder = await openSeeder(database);
  });

  after(async () => {
    await cluster?.stop();
    await seeder?.close();
    rmSync(dirname(database), { recursive: true, force: true });
  });

  test("runs the workers as children of one primary", () => {
    assert.equal(cluster.workerPids().length, WORKERS);
  });

  test("the workers share the admin listener, and only it serves the admin API", async () => {
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, connection: "close" };
    for (let i = 0; i < 2 * WORKERS; i++) {
      const res = await fetch(`${adminUrl}/admin/v1/clients/${seeder.client.clientId}`, { headers });
      assert.equal(res.status, 200, await res.text());
    }
    assert.equal((await fetch(`${cluster.url}/admin/v1/clients`, { headers })).status, 404);
  });

  test("a scrape of any worker counts what every worker answered", async () => {
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, connection: "close" };
    const scrape = async () => {
      const res = await fetch(`${adminUrl}/admin/v1/metrics`, { headers });
      assert.equal(res.status, 200);
      return res.text();
    };
    const healthz = { route: "/healthz", method: "GET", status: "200" };
    const before = sample(await scrape(), "keyward_http_requests_total", healthz) ?? 0;
    const requests = 40;
    // New connections, so that the cluster's round robin hands them to both workers.
    for (let i = 0; i < requests; i++) {
      assert.equal((await fetch(`${cluster.url}/healthz`, { headers: { connection: "close" } })).status, 200);
    }
    for (let i = 0; i < 2 * WORKERS; i++) {
      const body = await scrape();
      assert.equal(sample(body, "keyward_processes"), WORKERS);
      assert.equal(sample(body, "keyward_http_requests_total", healthz), before + requests);
    }
  });

  concurrencyTests(() => ({ cluster, seeder }));

  test("replaces a worker that dies, without interrupting service", async () => {
    const [victim] = cluster.workerPids();
    const issued = await redeem(cluster.url, seeder.client, await seeder.issueCode());
    process.kill(victim as number, "SIGKILL");
    await cluster.waitFor(/starting a replacement/);
    await cluster.waitFor(/keyward listening on/, WORKERS + 1);
    assert.equal(cluster.workerPids().length, WORKERS);
    assert.equal(await isActive(cluster.url, seeder.client, String(issued.body.access_token)), true);
  });

  test("SIGTERM stops every worker and the primary cleanly", async () => {
    const workers = cluster.workerPids();
    assert.equal(await cluster.stop(), 0);
    for (const pid of workers) assert.throws(() => process.kill(pid, 0), "the worker is gone");
  });
});

test("a first start with workers says, once, where it put the secret it generated", async () => {
  const database = tempDatabase();
  const cluster = await startCluster(["--workers", String(WORKERS)], { DATABASE_URL: database });
  try {
    const said = cluster.output().match(/"secret_file":"([^"]+)"[^\n]*generated a server secret/g) ?? [];
    assert.equal(said.length, 1, cluster.output());
    assert.match(said[0] ?? "", new RegExp(`"secret_file":"${dirname(database)}/keyward.secret"`));
  } finally {
    await cluster.stop();
    rmSync(dirname(database), { recursive: true, force: true });
  }
});

test("replacements that cannot start are retried ever more slowly, and with none serving the primary fails", {
  timeout: 90_000,
}, async () => {
  const database = tempDatabase();
  const cluster = await startCluster(["--workers", String(WORKERS)], { DATABASE_URL: database });
  try {
    // The database file replaced by a directory: a new worker cannot open it.
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${database}${suffix}`, { force: true });
    mkdirSync(database);
    for (const pid of cluster.workerPids()) process.kill(pid, "SIGKILL");
    assert.equal(await cluster.exit(60_000), 1);
    // Both killed workers had served: a second each. Then each replacement that died doubled its worker's wait.
    const waits = [...cluster.output().matchAll(/"delayMs":(\d+)/g)].map((match) => Number(match[1]));
    assert.deepEqual(
      waits.sort((a, b) => a - b),
      [1000, 1000, 2000, 2000, 4000, 4000, 8000, 8000],
      cluster.output(),
    );
    assert.match(
      cluster.output(),
      /replacement workers keep exiting before they listen, and no worker is serving; stopping/,
    );
  } finally {
    await cluster.stop();
    rmSync(dirname(database), { recursive: true, force: true });
  }
});

test("a second SIGTERM while the workers stop is noted, not obeyed at once", async () => {
  const database = tempDatabase();
  const cluster = await startCluster(["--workers", String(WORKERS)], { DATABASE_URL: database });
  try {
    cluster.child.kill("SIGTERM");
    await cluster.waitFor(/SIGTERM received: finishing in-flight requests/);
    cluster.child.kill("SIGTERM");
    assert.equal(await cluster.stop(), 0);
    assert.match(cluster.output(), /SIGTERM received: still stopping the workers/);
  } finally {
    await cluster.stop();
    rmSync(dirname(database), { recursive: true, force: true });
  }
});

describe("KEYWARD_WORKERS over PostgreSQL", { skip: PG_SKIP }, () => {
  let schema: TestSchema;
  let cluster: Cluster;
  let seeder: Seeder;

  before(async () => {
    schema = await createTestSchema();
    cluster = await startCluster(
      [],
      deploymentEnv(schema.url, { KEYWARD_WORKERS: String(WORKERS), KEYWARD_PG_POOL_SIZE: "5" }),
    );
    seeder = await openSeeder(schema.url);
  });

  after(async () => {
    await cluster?.stop();
    await seeder?.close();
    await schema?.drop();
  });

  concurrencyTests(() => ({ cluster, seeder }));
});
