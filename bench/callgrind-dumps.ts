import { readFileSync } from "node:fs";

/** Where a callgrind dump's instructions went, by function name. */
export interface FunctionCosts {
  /** Instructions run in the function itself. */
  self: Map<string, number>;
  /** Its own and those of the calls it made (recursion counts twice). */
  inclusive: Map<string, number>;
  /** "caller -> callee": the instructions of those calls, callees included. */
  calls: Map<string, number>;
}

export const emptyCosts = (): FunctionCosts => ({ self: new Map(), inclusive: new Map(), calls: new Map() });

interface JitRange {
  start: number;
  end: number;
  name: string;
}

/** V8's map of its JIT code (`--perf-basic-prof`): `start size name` a line, in hex. */
export function parseJitMap(text: string): JitRange[] {
  const ranges: JitRange[] = [];
  for (const line of text.split("\n")) {
    const match = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (!match) continue;
    const start = Number.parseInt(match[1] ?? "", 16);
    ranges.push({ start, end: start + Number.parseInt(match[2] ?? "", 16), name: match[3] ?? "" });
  }
  return ranges.sort((a, b) => a.start - b.start);
}

function jitName(ranges: JitRange[], address: number): string | undefined {
  let low = 0;
  let high = ranges.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const range = ranges[middle] as JitRange;
    if (address < range.start) high = middle - 1;
    else if (address >= range.end) low = middle + 1;
    else return range.name;
  }
  return undefined;
}

const add = (into: Map<string, number>, name: string, count: number) => into.set(name, (into.get(name) ?? 0) + count);

/**
 * Adds one dump's costs to `into`. In callgrind's format `fn=(id) name` opens a function (later
 * mentions give the id alone), `cfn=` names a callee, and the cost line after `calls=` is that
 * call's inclusive cost. Code V8 compiled has no symbol, so valgrind names it by address; `ranges`
 * names it back.
 */
export function addDump(into: FunctionCosts, text: string, ranges: JitRange[]): void {
  const names = new Map<string, string>();
  const nameOf = (field: string): string => {
    const match = /^\((\d+)\)(?: (.*))?$/.exec(field);
    if (!match) return field;
    const [, id = "", given] = match;
    if (given !== undefined) names.set(id, given);
    return names.get(id) ?? field;
  };
  const readable = (name: string): string => {
    if (!/^0x[0-9a-f]+$/.test(name)) return name;
    return jitName(ranges, Number.parseInt(name, 16)) ?? "(JIT code not in the map)";
  };
  let current = "";
  let callee = "";
  let afterCalls = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("fn=")) {
      current = readable(nameOf(line.slice(3)));
    } else if (line.startsWith("cfn=")) {
      callee = readable(nameOf(line.slice(4)));
    } else if (line.startsWith("calls=")) {
      afterCalls = true;
    } else {
      const cost = /^[+\-*\d]\S* (\d+)/.exec(line);
      if (!cost || current === "") continue;
      const count = Number(cost[1]);
      add(into.inclusive, current, count);
      if (afterCalls) add(into.calls, `${current} -> ${callee}`, count);
      else add(into.self, current, count);
      afterCalls = false;
    }
  }
}

export function readDump(into: FunctionCosts, file: string, ranges: JitRange[]): void {
  addDump(into, readFileSync(file, "utf8"), ranges);
}

/** Where V8 runs a concurrent optimizing (TurboFan) compile on one of its platform threads. */
const COMPILE_TASK = "v8::internal::OptimizingCompileDispatcher::CompileTask::RunInternal()";

/**
 * The instructions one dump spent in V8's concurrent optimizing compiler. Under callgrind a
 * request takes some fifty times as long, so compiles that a server at full speed finishes within
 * its warm-up still run in the counted requests (see docs/performance.md, "Instructions per request").
 */
export function compilerInstructions(text: string): number {
  const costs = emptyCosts();
  addDump(costs, text, []);
  return costs.inclusive.get(COMPILE_TASK) ?? 0;
}
