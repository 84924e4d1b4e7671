import { readFileSync, writeFileSync } from "node:fs";

function statusField(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Resets the kernel's peak-RSS mark (VmHWM) of a process; false where that is not allowed. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** User plus system CPU time of a process so far, in seconds (Linux counts in 1/100 s ticks). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

export interface Usage {
  peakRssBytes: number;
  /** CPU time of the server's processes over the run's wall time: 100 is one core busy throughout. */
  cpuPercent: number;
}

/**
 * What a server's processes used over a measured run. A single process's peak memory is its
 * VmHWM, reset at the start; several processes are summed from VmRSS sampled every 50 ms.
 */
export class ProcessUsage {
  private sampledPeak = 0;
  private timer: NodeJS.Timeout | undefined;
  private peakWasReset = false;
  private startedAt = 0;
  private cpuAtStart = new Map<number, number>();

  constructor(private readonly pids: () => number[]) {}

  start(): void {
    const pids = this.pids();
    this.peakWasReset = pids.length === 1 && pids.every(resetPeak);
    this.sampledPeak = 0;
    this.startedAt = Date.now();
    this.cpuAtStart = new Map(pids.map((pid) => [pid, cpuSeconds(pid)]));
    this.sample();
    this.timer = setInterval(() => this.sample(), 50);
  }

  stop(): Usage {
    clearInterval(this.timer);
    this.sample();
    const pids = this.pids();
    const cpu = pids.reduce((sum, pid) => sum + cpuSeconds(pid) - (this.cpuAtStart.get(pid) ?? 0), 0);
    const seconds = (Date.now() - this.startedAt) / 1000;
    const [single] = pids;
    const peak =
      this.peakWasReset && pids.length === 1 && single !== undefined
        ? Math.max(this.sampledPeak, statusField(single, "VmHWM"))
        : this.sampledPeak;
    return { peakRssBytes: peak, cpuPercent: seconds > 0 ? (100 * cpu) / seconds : 0 };
  }

  private sample(): void {
    const total = this.pids().reduce((sum, pid) => sum + statusField(pid, "VmRSS"), 0);
    this.sampledPeak = Math.max(this.sampledPeak, total);
  }
}
