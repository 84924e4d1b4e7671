import { readdirSync, readFileSync } from "node:fs";

/** CPU seconds used so far by every process named postgres on this machine; undefined where /proc cannot tell. */
export function postgresCpuSeconds(): number | undefined {
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
