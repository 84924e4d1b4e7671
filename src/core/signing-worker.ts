import { type KeyObject, sign } from "node:crypto";
import { parentPort } from "node:worker_threads";
import { es256SignOptions } from "./jws.js";

/** One batch for the signing thread: the key rides along only when it changed since the last batch. */
export interface SignRequest {
  id: number;
  key?: KeyObject;
  inputs: string[];
}

/** Each input's signature (base64url) in order, or undefined where that signature failed. */
export interface SignReply {
  id: number;
  signatures: Array<string | undefined>;
  error?: string;
}

let key: KeyObject | undefined;

function signOne(input: string): string {
  if (!key) throw new Error("no signing key was sent");
  return sign("sha256", Buffer.from(input), es256SignOptions(key)).toString("base64url");
}

parentPort?.on("message", (request: SignRequest) => {
  if (request.key) key = request.key;
  const reply: SignReply = { id: request.id, signatures: [] };
  for (const input of request.inputs) {
    try {
      reply.signatures.push(signOne(input));
    } catch (error) {
      reply.signatures.push(undefined);
      reply.error = (error as Error).message;
    }
  }
  parentPort?.postMessage(reply);
});
