/**
 * `node dist/bench/checks/callgrind-functions.js DIR [--top N] [--per N] [--thread N]`: where the
 * instructions that `instructions.js --keep DIR` counted went, function by function. Reads every
 * callgrind dump in DIR (or one thread's, `--thread 1` being the main thread) and prints each
 * function's own instructions (self) and those of the calls it made (inclusive; recursion counts
 * twice), per request when `--per` gives the number of requests. Code V8 compiled has no symbol
 * for valgrind; its addresses are named from the `perf-PID.map` that `--perf-basic-prof` wrote.
 * `--callers TEXT` lists instead who called the functions whose names contain TEXT, and what
 * those calls cost in all.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { emptyCosts, parseJitMap, readDump } from "../callgrind-dumps.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: "string", default: "40" },
    per: { type: "string", default: "1" },
    thread: { type: "string" },
    callers: { type: "string" },
  },
});
const directory = positionals[0];
if (directory === undefined) throw new Error("name the directory that instructions.js --keep wrote");
const top = Number(values.top);
const per = Number(values.per);

const files = readdirSync(directory);
const mapFile = files.find((name) => name.startsWith("perf-") && name.endsWith(".map"));
const ranges = mapFile === undefined ? [] : parseJitMap(readFileSync(join(directory, mapFile), "utf8"));
const thread = values.thread === undefined ? undefined : `-${values.thread.padStart(2, "0")}`;
const dumps = files.filter((name) => name.startsWith("cg.") && (thread === undefined || name.endsWith(thread)));
const { self, inclusive, calls } = emptyCosts();
for (const dump of dumps) readDump({ self, inclusive, calls }, join(directory, dump), ranges);

const total = [...self.values()].reduce((sum, count) => sum + count, 0);
const show = (title: string, counts: Map<string, number>) => {
  process.stdout.write(`${title}\n`);
  for (const [name, count] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    const share = ((100 * count) / total).toFixed(1).padStart(5);
    process.stdout.write(
      `${Math.round(count / per)
        .toLocaleString("en-US")
        .padStart(11)} ${share}%  ${name}\n`,
    );
  }
};
process.stdout.write(`${dumps.length} dumps, ${Math.round(total / per).toLocaleString("en-US")} instructions\n`);
const wanted = values.callers;
if (wanted === undefined) {
  show("self", self);
  show("inclusive", inclusive);
} else {
  const matching = [...calls].filter(([pair]) => (pair.split(" -> ")[1] ?? "").includes(wanted));
  show(`calls of functions named *${wanted}*`, new Map(matching));
}
