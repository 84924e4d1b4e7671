import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";

const ROOT = resolve(import.meta.dirname, "../..");
const INSTALL_HOOKS = ["preinstall", "install", "postinstall"];

interface PackageJson {
  name?: string;
  scripts?: Record<string, string>;
  gypfile?: boolean;
  allowScripts?: Record<string, boolean>;
}

const readPackage = (directory: string): PackageJson | undefined => {
  const path = join(directory, "package.json");
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as PackageJson) : undefined;
};

/** Every installed package, scoped ones included, nested node_modules too. */
function* installedPackages(modules: string): Generator<PackageJson> {
  if (!existsSync(modules)) return;
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith(".")) continue;
    const directories = entry.startsWith("@")
      ? readdirSync(join(modules, entry)).map((name) => join(modules, entry, name))
      : [join(modules, entry)];
    for (const directory of directories) {
      const found = readPackage(directory);
      if (found) yield found;
      yield* installedPackages(join(directory, "node_modules"));
    }
  }
}

// npm 12 runs a dependency's install script only when package.json's allowScripts lists it; one
// left out installs without error and fails at run time (the SQLite driver, unbuilt).
test("every installed package with an install script is allowed to run it", () => {
  const allowed = readPackage(ROOT)?.allowScripts ?? {};
  const needing = new Set<string>();
  for (const found of installedPackages(join(ROOT, "node_modules"))) {
    const hooks = INSTALL_HOOKS.filter((hook) => found.scripts?.[hook]);
    if ((hooks.length > 0 || found.gypfile) && found.name) needing.add(found.name);
  }
  assert.ok(needing.has("better-sqlite3"), "the SQLite driver builds at install");
  for (const name of needing)
    assert.equal(allowed[name], true, `${name} runs an install script: list it in allowScripts`);
});
