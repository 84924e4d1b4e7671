import { parentPort } from "node:worker_threads";

/** A signing thread that dies on its first batch, for the fallback tests. */
parentPort?.on("message", () => process.exit(3));
