import { readdirSync, readFileSync } from "node:fs";

/** CPU seconds used so far by every process named postgres on this machine; undefined where /proc cannot tell. */
function postgresCpuSeconds(): number | undefined {
  try {
    let ticks = 0;
    for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        if (!stat.includes("(postgres)")) continue;
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        ticks += Number(fields[11]) + Number(fields[12]);
      } catch {
        // The process ended between listing and reading.
      }
    }
    return ticks / 100;
  } catch {
    return undefined;
  }
}

/**
 * Runs `work`, `operations` of something, and describes what each cost: the rate, this process's
 * CPU, and PostgreSQL's where /proc can tell. `each` ends the CPU figures ("each", "per lookup").
 */
export async function costOf(
  operations: number,
  each: string,
  work: () => Promise<void>,
): Promise<{ perSecond: string; keyward: string; postgres: string }> {
  const postgresBefore = postgresCpuSeconds();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const postgresAfter = postgresCpuSeconds();
  return {
    perSecond: (operations / seconds).toFixed(0).padStart(6),
    keyward: `keyward ${((cpu.user + cpu.system) / operations).toFixed(0)} µs CPU ${each}`,
    postgres:
      postgresBefore === undefined || postgresAfter === undefined
        ? "PostgreSQL's CPU not readable here"
        : `PostgreSQL ${(((postgresAfter - postgresBefore) * 1e6) / operations).toFixed(0)} µs CPU ${each}`,
  };
}
