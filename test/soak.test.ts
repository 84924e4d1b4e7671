import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { createClientWithCli, createUserWithCli } from "./support/browserless.js";
import { consentedJar, newLedger, runLoad, verifyLedger } from "./support/load.js";
import { startServerProcess, tempDatabase } from "./support/server-process.js";

const SECONDS = Number(process.env.KEYWARD_SOAK_SECONDS ?? 120);
const REDIRECT_URI = "https://client.example/callback";
const SCOPE = "profile:read";

interface Sample {
  rssKb: number;
  fds: number;
}

function sample(pid: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return { rssKb, fds: readdirSync(`/proc/${pid}/fd`).length };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

test(`soak: ${SECONDS} s of mixed load, memory and open handles flat, no errors`, {
  timeout: (SECONDS + 120) * 1000,
}, async () => {
  const env = {
    DATABASE_URL: tempDatabase(),
    KEYWARD_SECRET: randomBytes(32).toString("hex"),
    KEYWARD_RATE_PER_CLIENT: "0",
    KEYWARD_RATE_PER_ADDRESS: "0",
    LOG_LEVEL: "warn",
  };
  const client = createClientWithCli(env, { name: "Soak", redirectUris: [REDIRECT_URI], scope: SCOPE });
  const user = createUserWithCli(env, { email: "soak@example.com", password: "long enough pw" });
  const server = await startServerProcess(env);
  const pid = server.child.pid ?? 0;
  try {
    const jar = await consentedJar(server.url, client.clientId, REDIRECT_URI, SCOPE, user);
    const target = {
      url: server.url,
      clientId: client.clientId,
      basic: client.basic,
      redirectUri: REDIRECT_URI,
      jar,
      scope: SCOPE,
    };
    const ledger = newLedger();
    const samples: Sample[] = [];
    const sampler = setInterval(() => samples.push(sample(pid)), 1000);
    const started = Date.now();
    await runLoad(target, ledger, { concurrency: 8, stop: () => Date.now() - started > SECONDS * 1000 });
    clearInterval(sampler);

    assert.deepEqual(ledger.unexpected, [], "every response had the expected status");
    assert.equal(ledger.uncertain.size, 0, "no request lost its answer");
    const third = Math.floor(samples.length / 3);
    const middle = samples.slice(third, 2 * third);
    const last = samples.slice(2 * third);
    const rssMiddle = median(middle.map((s) => s.rssKb));
    const rssLast = median(last.map((s) => s.rssKb));
    const fdMiddle = Math.max(...middle.map((s) => s.fds));
    const fdLast = Math.max(...last.map((s) => s.fds));
    console.log(
      `${ledger.requests} requests in ${SECONDS} s, 0 errors; RSS median ${Math.round(rssMiddle / 1024)} MB -> ${Math.round(rssLast / 1024)} MB; open fds max ${fdMiddle} -> ${fdLast}`,
    );
    assert.ok(rssLast <= rssMiddle * 1.25 + 8 * 1024, `memory grew from ${rssMiddle} kB to ${rssLast} kB`);
    assert.ok(fdLast <= fdMiddle + 8, `open handles grew from ${fdMiddle} to ${fdLast}`);

    const sampleOfTokens = newLedger();
    for (const token of [...ledger.live].slice(-200)) sampleOfTokens.live.add(token);
    for (const token of [...ledger.dead].slice(-200)) sampleOfTokens.dead.add(token);
    const { wrong } = await verifyLedger(target, sampleOfTokens);
    assert.deepEqual(wrong, []);
  } finally {
    await server.stop();
  }
});
